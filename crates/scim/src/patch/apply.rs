//! Applies PATCH operations (RFC 7644 §3.5.2) to a resource's JSON.
//!
//! Operations run in order on a copy; the resource is replaced only when all of them succeed, so a
//! failed request leaves it exactly as it was. What real IdPs send is accepted: Entra's capitalised
//! ops, `"True"`/`"False"` for booleans, `emails[type eq "work"].value` for an email that does not
//! exist yet (created from the filter), members removed by a `value` list, dotted and URN keys in
//! a path-less value object, `"$ref": null`; Okta's path-less `{"active": false}`.
//!
//! Attributes the schema does not know are handled without a schema (kept, replaced, removed as
//! JSON), since the resource model keeps every attribute.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{PatchOperation, PatchVerb};
use crate::filter::Filter;
use crate::json::{self, type_name};
use crate::path::{AttrPath, PatchPath};
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceView};
use crate::validate::{coerce, coerce_single, sync_schemas};
use crate::{ScimError, ScimType, filter};

/// What a successful PATCH did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchOutcome {
    /// False when the operations left the resource as it was, so the server can keep its version
    /// (ETag) and `lastModified`.
    pub changed: bool,
}

fn error(scim_type: ScimType, detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(scim_type, detail)
}

/// Applies `operations` to `resource` (a JSON object) atomically: on error `resource` is
/// untouched. `meta` is not maintained here; the server sets `lastModified` and `version` when
/// the outcome says something changed.
pub fn apply_patch(
    resource: &mut Value,
    operations: &[PatchOperation],
    view: ResourceView<'_>,
) -> Result<PatchOutcome, ScimError> {
    if operations.len() > super::MAX_OPERATIONS {
        return Err(error(
            ScimType::TooMany,
            format!(
                "a PATCH request may hold at most {} operations; this one holds {}",
                super::MAX_OPERATIONS,
                operations.len()
            ),
        ));
    }
    let Value::Object(original) = &*resource else {
        return Err(error(ScimType::InvalidSyntax, "the resource to patch is not a JSON object"));
    };
    let engine = Engine { view, urns: view.schema_urns(), open: RefCell::new(None) };
    let mut work = original.clone();
    for (i, op) in operations.iter().enumerate() {
        engine.operation(&mut work, op).map_err(|mut e| {
            let what = match &op.path {
                Some(p) => format!("operation {} ({:?} {p})", i + 1, op.op),
                None => format!("operation {} ({:?})", i + 1, op.op),
            };
            e.detail = Some(format!("{what}: {}", e.detail.as_deref().unwrap_or("failed")));
            e
        })?;
    }
    engine.flush(&mut work);
    engine.check_required_kept(original, &work)?;
    if &work == original {
        return Ok(PatchOutcome { changed: false });
    }
    let mut patched = Value::Object(work);
    sync_schemas(&mut patched, view);
    *resource = patched;
    Ok(PatchOutcome { changed: true })
}

struct Engine<'r> {
    view: ResourceView<'r>,
    urns: Vec<&'r str>,
    /// The multi-valued attribute that consecutive keyed operations are working on, held out of
    /// the resource until an operation of another kind (or the end) writes it back.
    open: RefCell<Option<Open>>,
}

/// Where a multi-valued attribute lives: its extension's key (`None` for the core schema) and
/// its name, lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    container: Option<String>,
    name: String,
}

/// A multi-valued attribute taken out of the resource, with its elements indexed by their
/// `value`. Adding and removing elements by value (`add` of a value list, `remove` with a value
/// list or `[value eq "x"]`) is what IdPs send in bulk (group members, one per operation), and
/// without the index each such operation would copy and scan the whole attribute: 20,000
/// operations on a large group were quadratic. With it, a request costs its operations plus the
/// attribute's size.
struct Open {
    slot: Slot,
    name: String,
    items: Vec<Option<Value>>,
    index: HashMap<String, Vec<usize>>,
    /// The last element an operation added with `primary: true`: it keeps the flag.
    primary: Option<usize>,
}

/// The key an element is indexed by: its `value` sub-attribute, or the element itself when it is
/// not an object, lowercased so that a comparison ignoring case finds its candidates too (the
/// candidates are then compared as the operation says). Elements without a value are not
/// indexed.
fn value_key(element: &Value) -> Option<String> {
    let key = match element {
        Value::Object(_) => json::get_ci(element, "value").filter(|v| !v.is_null())?,
        Value::Null => return None,
        other => other,
    };
    Some(match key {
        Value::String(s) => s.to_lowercase(),
        other => other.to_string(),
    })
}

fn is_primary(v: &Value) -> bool {
    json::get_ci(v, "primary").is_some_and(|p| p == &Value::Bool(true))
}

impl Open {
    fn new(slot: Slot, name: String, taken: Value) -> Self {
        let items: Vec<Option<Value>> = match taken {
            Value::Null => Vec::new(),
            Value::Array(items) => items.into_iter().map(Some).collect(),
            single => vec![Some(single)],
        };
        let mut index: HashMap<String, Vec<usize>> = HashMap::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some(key) = item.as_ref().and_then(value_key) {
                index.entry(key).or_default().push(i);
            }
        }
        Self { slot, name, items, index, primary: None }
    }

    /// Positions of live elements that may hold `wanted` (all of them when it has no key).
    fn candidates(&self, wanted: &Value) -> Vec<usize> {
        match value_key(wanted) {
            Some(key) => self.index.get(&key).cloned().unwrap_or_default(),
            None => (0..self.items.len()).collect(),
        }
    }

    fn add(&mut self, values: Vec<Value>) {
        for v in values {
            let present =
                self.candidates(&v).into_iter().any(|i| self.items[i].as_ref().is_some_and(|old| contains(old, &v)));
            if present {
                continue;
            }
            let position = self.items.len();
            if let Some(key) = value_key(&v) {
                self.index.entry(key).or_default().push(position);
            }
            if is_primary(&v) {
                self.primary = Some(position);
            }
            self.items.push(Some(v));
        }
    }

    fn remove(&mut self, gone: &[Value]) {
        for g in gone {
            for i in self.candidates(g) {
                if self.items[i].as_ref().is_some_and(|old| contains(old, g)) {
                    self.items[i] = None;
                }
            }
        }
    }

    /// Removes the elements whose `value` equals `wanted` (ignoring case unless `case_exact`), as
    /// `remove` with the path `attr[value eq "wanted"]` does.
    fn remove_value(&mut self, wanted: &str, case_exact: bool) {
        let probe = Value::String(wanted.to_owned());
        for i in self.candidates(&probe) {
            let hit = self.items[i]
                .as_ref()
                .and_then(|old| json::get_ci(old, "value"))
                .and_then(Value::as_str)
                .is_some_and(|v| if case_exact { v == wanted } else { v.to_lowercase() == wanted.to_lowercase() });
            if hit {
                self.items[i] = None;
            }
        }
    }

    /// The attribute's elements as they now stand, `primary` kept on one at most.
    fn finish(self) -> Vec<Value> {
        let winner = self.primary.filter(|&p| self.items.get(p).is_some_and(Option::is_some));
        self.items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let mut item = item?;
                if winner.is_some_and(|w| w != i)
                    && is_primary(&item)
                    && let Value::Object(o) = &mut item
                {
                    json::set_in(o, "primary", Value::Bool(false));
                }
                Some(item)
            })
            .collect()
    }
}

/// An attribute definition, or one made up for an attribute the schema does not know.
struct Attr<'r> {
    def: Cow<'r, AttributeDef>,
    known: bool,
}

impl<'r> Attr<'r> {
    fn known(def: &'r AttributeDef) -> Self {
        Self { def: Cow::Borrowed(def), known: true }
    }

    /// Shapes an unknown attribute after what it holds or is given.
    fn inferred(name: &str, existing: Option<&Value>, given: Option<&Value>, has_filter: bool) -> Self {
        let sample = existing.filter(|v| !v.is_null()).or(given);
        let multi = has_filter || matches!(sample, Some(Value::Array(_)));
        let complex = has_filter
            || match sample {
                Some(Value::Object(_)) => true,
                Some(Value::Array(items)) => items.iter().any(Value::is_object),
                _ => false,
            };
        let mut def = AttributeDef::new(name, if complex { AttrType::Complex } else { AttrType::String });
        def.multi_valued = multi;
        Self { def: Cow::Owned(def), known: false }
    }

    fn name(&self) -> &str {
        &self.def.name
    }

    fn sub(&self, name: &str) -> Result<Attr<'_>, ScimError> {
        if !self.known {
            return Ok(Attr { def: Cow::Owned(AttributeDef::string(name)), known: false });
        }
        if !self.def.is_complex() {
            return Err(error(ScimType::InvalidPath, format!("{} has no sub-attributes", self.def.name)));
        }
        match self.def.sub_attribute(name) {
            Some(sub) => Ok(Attr { def: Cow::Borrowed(sub), known: true }),
            None => Err(error(ScimType::InvalidPath, format!("{} has no sub-attribute {name:?}", self.def.name))),
        }
    }

    fn coerce(&self, value: &Value) -> Result<Value, ScimError> {
        if self.known {
            return coerce(value, &self.def, &self.def.name);
        }
        Ok(match (self.def.multi_valued, value) {
            (true, Value::Array(_)) | (false, _) | (_, Value::Null) => value.clone(),
            (true, single) => Value::Array(vec![single.clone()]),
        })
    }

    fn coerce_element(&self, value: &Value) -> Result<Value, ScimError> {
        if self.known { coerce_single(value, &self.def, &self.def.name) } else { Ok(value.clone()) }
    }
}

impl<'r> Engine<'r> {
    fn operation(&self, obj: &mut Map<String, Value>, op: &PatchOperation) -> Result<(), ScimError> {
        let value = op.value.as_ref();
        // `"value": null` reads as no value at all; for a replace that means "unassign", which
        // is what a client sending it wants.
        let value = match (op.op, value) {
            (PatchVerb::Add, None) => {
                return Err(error(ScimType::InvalidSyntax, "an add operation needs a non-null \"value\""));
            }
            (PatchVerb::Replace, None) if op.path.is_some() => Some(&Value::Null),
            (PatchVerb::Replace, None) => {
                return Err(error(ScimType::InvalidSyntax, "a replace operation without a path needs a \"value\""));
            }
            _ => value,
        };
        match op.path.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            None => {
                if op.op == PatchVerb::Remove {
                    return Err(error(ScimType::NoTarget, "remove needs a \"path\""));
                }
                let Some(Value::Object(fields)) = value else {
                    let found = value.map(type_name).unwrap_or("nothing");
                    return Err(error(
                        ScimType::InvalidValue,
                        format!("an operation without a path needs an object value, not {found}"),
                    ));
                };
                self.flush(obj);
                for (key, v) in fields {
                    self.path_less_entry(obj, op.op, key, v)?;
                }
                Ok(())
            }
            Some(text) => {
                let path = PatchPath::parse_with(text, &self.urns)
                    .map_err(|e| error(ScimType::InvalidPath, format!("{text:?}: {e}")))?;
                let keyed = self.keyed_slot(&path, op.op, value);
                let same = self.open.borrow().as_ref().map(|o| &o.slot) == keyed.as_ref();
                if !same {
                    self.flush(obj);
                }
                self.target(obj, op.op, &path, value, true)
            }
        }
    }

    /// The slot an operation works on when it only adds or removes elements by value (so it can
    /// run on the open attribute); `None` for any other operation.
    fn keyed_slot(&self, path: &PatchPath, verb: PatchVerb, value: Option<&Value>) -> Option<Slot> {
        if path.attr.sub.is_some()
            || path.sub.is_some()
            || path.attr.joined_urn().is_some_and(|j| self.view.extension(&j).is_some())
        {
            return None;
        }
        let keyed = match (verb, &path.filter) {
            (PatchVerb::Add, None) => value.is_some_and(|v| !v.is_null()),
            (PatchVerb::Remove, None) => value.is_some_and(|v| !v.is_null()),
            (PatchVerb::Remove, Some(filter)) => by_exact_value(filter).is_some(),
            _ => false,
        };
        if !keyed {
            return None;
        }
        let top = AttrPath { urn: path.attr.urn.clone(), name: path.attr.name.clone(), sub: None };
        let def = self.view.resolve(&top)?.attr;
        if !def.multi_valued || def.mutability != Mutability::ReadWrite {
            return None;
        }
        // `[value eq "x"]` needs a `value` sub-attribute to compare.
        if path.filter.is_some() && def.sub_attribute("value").is_none() {
            return None;
        }
        let container = match &path.attr.urn {
            Some(urn) if !self.view.is_core_urn(urn) => {
                Some(self.view.extension(urn).map_or_else(|| urn.clone(), |s| s.id.clone()))
            }
            _ => None,
        };
        Some(Slot { container, name: def.name.to_ascii_lowercase() })
    }

    /// Writes the open attribute back into the resource.
    fn flush(&self, obj: &mut Map<String, Value>) {
        let Some(open) = self.open.borrow_mut().take() else { return };
        let container = match &open.slot.container {
            None => Some(obj),
            Some(key) => match json::get_mut_in(obj, key) {
                Some(Value::Object(inner)) => Some(inner),
                _ => None,
            },
        };
        let Some(container) = container else { return };
        let name = open.name.clone();
        let items = open.finish();
        if items.is_empty() {
            json::remove_in(container, &name);
        } else {
            json::set_in(container, &name, Value::Array(items));
        }
    }

    /// Runs a keyed operation on the open attribute (opening it first); `false` when the
    /// operation is not one.
    fn keyed(
        &self,
        container: &mut Map<String, Value>,
        slot: Slot,
        verb: PatchVerb,
        attr: &Attr<'_>,
        filter: Option<&Filter>,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        let mut open = self.open.borrow_mut();
        if open.as_ref().is_none_or(|o| o.slot != slot) {
            let taken = json::get_mut_in(container, attr.name()).map(std::mem::take).unwrap_or(Value::Null);
            *open = Some(Open::new(slot, attr.name().to_owned(), taken));
        }
        let Some(open) = open.as_mut() else { return Ok(()) };
        match (verb, filter) {
            (PatchVerb::Add, _) => {
                if let Value::Array(new) = attr.coerce(value.unwrap_or(&Value::Null))? {
                    open.add(new);
                }
            }
            (PatchVerb::Remove, Some(filter)) => {
                if let Some(v) = by_exact_value(filter).and_then(Value::as_str) {
                    let case_exact = attr.def.sub_attribute("value").is_some_and(|d| d.case_exact);
                    open.remove_value(v, case_exact);
                }
            }
            (PatchVerb::Remove, None) => {
                if let Value::Array(gone) = attr.coerce(value.unwrap_or(&Value::Null))? {
                    open.remove(&gone);
                }
            }
            (PatchVerb::Replace, _) => {}
        }
        Ok(())
    }

    /// One key of a path-less value object: an attribute, a dotted path (`name.givenName`), a
    /// URN-qualified path, or a whole extension.
    fn path_less_entry(
        &self,
        obj: &mut Map<String, Value>,
        verb: PatchVerb,
        key: &str,
        v: &Value,
    ) -> Result<(), ScimError> {
        if key.eq_ignore_ascii_case("schemas") {
            return Ok(());
        }
        if let Some(ext) = self.view.extension(key) {
            return self.extension(obj, verb, &ext.id, Some(v), false);
        }
        let path = PatchPath::parse_with(key, &self.urns)
            .map_err(|e| error(ScimType::InvalidPath, format!("attribute {key:?}: {e}")))?;
        // A vendor extension the registry does not know, given whole.
        if v.is_object()
            && path.filter.is_none()
            && path.attr.urn.as_deref().is_some_and(|u| !self.view.is_core_urn(u))
            && self.view.resolve(&path.attr).is_none()
            && let Some(joined) = path.attr.joined_urn()
        {
            return self.extension(obj, verb, &joined, Some(v), false);
        }
        self.target(obj, verb, &path, Some(v), false)
    }

    /// A whole extension object: its attributes are added or replaced one by one.
    fn extension(
        &self,
        obj: &mut Map<String, Value>,
        verb: PatchVerb,
        urn: &str,
        value: Option<&Value>,
        explicit: bool,
    ) -> Result<(), ScimError> {
        match (verb, value) {
            (PatchVerb::Remove, _) | (_, Some(Value::Null)) => {
                json::remove_in(obj, urn);
                Ok(())
            }
            (_, Some(Value::Object(fields))) => {
                for (key, v) in fields {
                    let mut path = PatchPath::parse(key)
                        .map_err(|e| error(ScimType::InvalidPath, format!("{urn} attribute {key:?}: {e}")))?;
                    if path.attr.urn.is_some() {
                        return Err(error(
                            ScimType::InvalidPath,
                            format!("{urn} attribute {key:?} is not a plain name"),
                        ));
                    }
                    path.attr.urn = Some(urn.to_owned());
                    self.target(obj, verb, &path, Some(v), explicit)?;
                }
                Ok(())
            }
            (_, other) => Err(error(
                ScimType::InvalidValue,
                format!("{urn} needs an object value, not {}", other.map(type_name).unwrap_or("nothing")),
            )),
        }
    }

    fn target(
        &self,
        obj: &mut Map<String, Value>,
        verb: PatchVerb,
        path: &PatchPath,
        value: Option<&Value>,
        explicit: bool,
    ) -> Result<(), ScimError> {
        if path.filter.is_none()
            && let Some(joined) = path.attr.joined_urn()
        {
            if let Some(ext) = self.view.extension(&joined) {
                return self.extension(obj, verb, &ext.id, value, explicit);
            }
            if self.view.resolve(&path.attr).is_none() && json::key_ci(obj, &joined).is_some() {
                return self.extension(obj, verb, &joined, value, explicit);
            }
        }
        let container_key = match &path.attr.urn {
            Some(urn) if !self.view.is_core_urn(urn) => {
                Some(self.view.extension(urn).map_or_else(|| urn.clone(), |s| s.id.clone()))
            }
            _ => None,
        };
        let container: &mut Map<String, Value> = match &container_key {
            None => obj,
            Some(key) => {
                if json::key_ci(obj, key).is_none() {
                    if verb == PatchVerb::Remove {
                        return Ok(());
                    }
                    obj.insert(key.clone(), Value::Object(Map::new()));
                }
                match json::get_mut_in(obj, key) {
                    Some(Value::Object(inner)) => inner,
                    _ => {
                        return Err(error(
                            ScimType::InvalidValue,
                            format!("{key} holds something other than an object"),
                        ));
                    }
                }
            }
        };
        let top = AttrPath { urn: path.attr.urn.clone(), name: path.attr.name.clone(), sub: None };
        let attr = match self.view.resolve(&top) {
            Some(r) => Attr::known(r.attr),
            None => {
                Attr::inferred(&path.attr.name, json::get_in(container, &path.attr.name), value, path.filter.is_some())
            }
        };
        if attr.def.mutability == Mutability::ReadOnly {
            // Clients echo `id` and `meta` back in path-less replaces; RFC 7644 §3.5.2 lets a
            // provider ignore those, but an explicit path at a readOnly attribute is a mistake.
            return if explicit {
                Err(error(ScimType::Mutability, format!("{} is readOnly", attr.name())))
            } else {
                Ok(())
            };
        }
        let sub_name = path.attr.sub.as_deref().or(path.sub.as_deref());
        let sub = match sub_name {
            Some(name) => Some(attr.sub(name)?),
            None => None,
        };
        if let Some(sub) = &sub
            && sub.def.mutability == Mutability::ReadOnly
        {
            return if explicit {
                Err(error(ScimType::Mutability, format!("{}.{} is readOnly", attr.name(), sub.name())))
            } else {
                Ok(())
            };
        }
        if explicit
            && attr.known
            && sub.is_none()
            && let Some(slot) = self.open_slot_for(path, verb, value, &container_key)
        {
            return self.keyed(container, slot, verb, &attr, path.filter.as_ref(), value);
        }
        let before = json::get_in(container, attr.name()).cloned();
        if attr.def.multi_valued {
            self.multi(container, verb, &attr, sub.as_ref(), path.filter.as_ref(), value, &top)?;
        } else if let Some(filter) = &path.filter {
            return Err(error(
                ScimType::InvalidPath,
                format!("{} is not multi-valued; [{filter}] selects nothing", attr.name()),
            ));
        } else if let Some(sub) = &sub {
            complex_sub(container, verb, &attr, sub, value)?;
        } else {
            single(container, verb, &attr, value)?;
        }
        if attr.def.mutability == Mutability::Immutable
            && let Some(before) = before.filter(|b| !json::is_unassigned(b))
            && json::get_in(container, attr.name()) != Some(&before)
        {
            return Err(error(ScimType::Mutability, format!("{} is immutable and already has a value", attr.name())));
        }
        Ok(())
    }

    /// The slot of a keyed operation whose container is `container_key`, when it is one.
    fn open_slot_for(
        &self,
        path: &PatchPath,
        verb: PatchVerb,
        value: Option<&Value>,
        container_key: &Option<String>,
    ) -> Option<Slot> {
        self.keyed_slot(path, verb, value).filter(|slot| &slot.container == container_key)
    }

    #[allow(clippy::too_many_arguments)]
    fn multi(
        &self,
        container: &mut Map<String, Value>,
        verb: PatchVerb,
        attr: &Attr<'_>,
        sub: Option<&Attr<'_>>,
        filter: Option<&Filter>,
        value: Option<&Value>,
        path: &AttrPath,
    ) -> Result<(), ScimError> {
        let name = attr.name();
        let mut items: Vec<Value> = match json::get_in(container, name) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(single) => vec![single.clone()],
        };
        let mut touched: Vec<usize> = Vec::new();
        let given = value.unwrap_or(&Value::Null);
        match (filter, sub) {
            (None, None) => match verb {
                PatchVerb::Add => {
                    let Value::Array(new) = attr.coerce(given)? else { return Ok(()) };
                    for v in new {
                        if !items.iter().any(|old| contains(old, &v)) {
                            items.push(v);
                            touched.push(items.len() - 1);
                        }
                    }
                }
                PatchVerb::Replace => {
                    items = match attr.coerce(given)? {
                        Value::Array(new) => new,
                        _ => Vec::new(),
                    };
                    touched = (0..items.len()).collect();
                }
                PatchVerb::Remove => match value.filter(|v| !v.is_null()) {
                    // Entra removes members as {"path": "members", "value": [{"value": "id"}]}:
                    // only those go.
                    Some(v) => {
                        let Value::Array(gone) = attr.coerce(v)? else { return Ok(()) };
                        items.retain(|old| !gone.iter().any(|g| contains(old, g)));
                    }
                    None => items.clear(),
                },
            },
            (None, Some(sub)) => match verb {
                PatchVerb::Remove => {
                    for item in &mut items {
                        if let Value::Object(o) = item {
                            json::remove_in(o, sub.name());
                        }
                    }
                }
                PatchVerb::Add | PatchVerb::Replace => {
                    let v = sub.coerce(given)?;
                    if items.is_empty() && !v.is_null() {
                        items.push(Value::Object(Map::new()));
                    }
                    for (i, item) in items.iter_mut().enumerate() {
                        set_sub(item, sub, v.clone(), name)?;
                        touched.push(i);
                    }
                }
            },
            (Some(filter), sub) => {
                let matched: Vec<usize> = (0..items.len())
                    .filter(|&i| filter::eval::matches_element(filter, &items[i], Some(self.view), path))
                    .collect();
                if matched.is_empty() {
                    if verb == PatchVerb::Remove {
                        return Ok(());
                    }
                    // Entra adds or replaces `emails[type eq "work"].value` when the user has no
                    // work email yet: create the element the filter describes.
                    let Some(mut seed) = seed_from_filter(attr, filter) else {
                        return Err(error(ScimType::NoTarget, format!("no {name} value matches [{filter}]")));
                    };
                    match sub {
                        Some(sub) => set_sub(&mut seed, sub, sub.coerce(given)?, name)?,
                        None => merge(&mut seed, attr, given, name)?,
                    }
                    items.push(seed);
                    touched.push(items.len() - 1);
                } else {
                    match (verb, sub) {
                        (PatchVerb::Remove, None) => {
                            let gone: std::collections::HashSet<usize> = matched.into_iter().collect();
                            let mut index = 0;
                            items.retain(|_| {
                                index += 1;
                                !gone.contains(&(index - 1))
                            });
                        }
                        (PatchVerb::Remove, Some(sub)) => {
                            for &i in &matched {
                                if let Value::Object(o) = &mut items[i] {
                                    json::remove_in(o, sub.name());
                                }
                            }
                        }
                        (_, Some(sub)) => {
                            let v = sub.coerce(given)?;
                            for &i in &matched {
                                set_sub(&mut items[i], sub, v.clone(), name)?;
                            }
                            touched = matched;
                        }
                        (PatchVerb::Replace, None) => {
                            let v = attr.coerce_element(given)?;
                            if !v.is_object() {
                                return Err(error(
                                    ScimType::InvalidValue,
                                    format!("{name} values are objects, not {}", type_name(given)),
                                ));
                            }
                            for &i in &matched {
                                items[i] = v.clone();
                            }
                            touched = matched;
                        }
                        (PatchVerb::Add, None) => {
                            for &i in &matched {
                                merge(&mut items[i], attr, given, name)?;
                            }
                            touched = matched;
                        }
                    }
                }
            }
        }
        keep_one_primary(&mut items, &touched);
        if items.is_empty() {
            json::remove_in(container, name);
        } else {
            json::set_in(container, name, Value::Array(items));
        }
        Ok(())
    }

    /// Required attributes the resource had must survive the PATCH.
    fn check_required_kept(&self, before: &Map<String, Value>, after: &Map<String, Value>) -> Result<(), ScimError> {
        let present = |m: &Map<String, Value>, urn: Option<&str>, name: &str| -> bool {
            let container = match urn {
                Some(urn) => json::get_in(m, urn).and_then(Value::as_object),
                None => Some(m),
            };
            container.and_then(|c| json::get_in(c, name)).is_some_and(|v| !json::is_unassigned(v))
        };
        let core = self.view.core_schema().map(|s| (None, s));
        let extensions = self.view.extensions().map(|(s, _)| (Some(s.id.as_str()), s));
        for (urn, schema) in core.into_iter().chain(extensions) {
            for def in schema.attributes.iter().filter(|d| d.required) {
                if present(before, urn, &def.name) && !present(after, urn, &def.name) {
                    return Err(error(
                        ScimType::InvalidValue,
                        format!("{} is required and cannot be removed", def.name),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn single(
    container: &mut Map<String, Value>,
    verb: PatchVerb,
    attr: &Attr<'_>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let name = attr.name();
    let given = match (verb, value) {
        (PatchVerb::Remove, _) | (_, None | Some(Value::Null)) => {
            json::remove_in(container, name);
            return Ok(());
        }
        (_, Some(v)) => v,
    };
    if attr.def.is_complex() && given.is_object() {
        // Add and replace on a complex attribute both merge: sub-attributes not given stay
        // (RFC 7644 §3.5.2.1, §3.5.2.3).
        let mut current = match json::get_in(container, name) {
            Some(Value::Object(o)) => Value::Object(o.clone()),
            _ => Value::Object(Map::new()),
        };
        merge(&mut current, attr, given, name)?;
        if current.as_object().is_some_and(Map::is_empty) {
            json::remove_in(container, name);
        } else {
            json::set_in(container, name, current);
        }
        return Ok(());
    }
    let v = attr.coerce(given)?;
    json::set_in(container, name, v);
    Ok(())
}

fn complex_sub(
    container: &mut Map<String, Value>,
    verb: PatchVerb,
    attr: &Attr<'_>,
    sub: &Attr<'_>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let name = attr.name();
    if json::get_in(container, name).is_none_or(Value::is_null) {
        if verb == PatchVerb::Remove {
            return Ok(());
        }
        json::set_in(container, name, Value::Object(Map::new()));
    }
    let Some(current) = json::get_mut_in(container, name) else { return Ok(()) };
    match verb {
        PatchVerb::Remove => {
            if let Value::Object(o) = current {
                json::remove_in(o, sub.name());
            }
        }
        PatchVerb::Add | PatchVerb::Replace => {
            let v = sub.coerce(value.unwrap_or(&Value::Null))?;
            set_sub(current, sub, v, name)?;
        }
    }
    if current.as_object().is_some_and(Map::is_empty) {
        json::remove_in(container, name);
    }
    Ok(())
}

/// Sets (or, for null, removes) one sub-attribute of an element, honouring its mutability.
fn set_sub(element: &mut Value, sub: &Attr<'_>, v: Value, parent: &str) -> Result<(), ScimError> {
    let Value::Object(o) = element else {
        return Err(error(ScimType::InvalidValue, format!("{parent} values are not objects")));
    };
    if sub.def.mutability == Mutability::Immutable
        && let Some(old) = json::get_in(o, sub.name()).filter(|old| !old.is_null())
        && *old != v
    {
        return Err(error(ScimType::Mutability, format!("{parent}.{} is immutable", sub.name())));
    }
    if v.is_null() {
        json::remove_in(o, sub.name());
    } else {
        json::set_in(o, sub.name(), v);
    }
    Ok(())
}

/// Merges a value object into a complex value: null sub-attributes unassign, others replace.
fn merge(target: &mut Value, attr: &Attr<'_>, given: &Value, name: &str) -> Result<(), ScimError> {
    let Value::Object(fields) = given else {
        return Err(error(ScimType::InvalidValue, format!("{name} needs an object value, not {}", type_name(given))));
    };
    let Value::Object(current) = target else {
        return Err(error(ScimType::InvalidValue, format!("{name} does not hold an object")));
    };
    for (key, raw) in fields {
        let sub = attr.sub(key)?;
        if raw.is_null() {
            json::remove_in(current, sub.name());
            continue;
        }
        if sub.def.mutability == Mutability::ReadOnly && attr.known {
            continue;
        }
        let v = sub.coerce(raw)?;
        json::set_in(current, sub.name(), v);
    }
    Ok(())
}

/// `value eq "x"` as a filter of elements by their exact value: the string compared, or `None`
/// for any other filter. (Only `value` sub-attributes that compare case-exactly qualify; callers
/// check the attribute, this checks the shape.)
fn by_exact_value(filter: &Filter) -> Option<&Value> {
    match filter {
        Filter::Compare { path, op: crate::CompareOp::Eq, value }
            if path.urn.is_none()
                && path.sub.is_none()
                && path.name.eq_ignore_ascii_case("value")
                && value.is_string() =>
        {
            Some(value)
        }
        _ => None,
    }
}

/// Whether `old` already holds everything `new` says (so adding `new` changes nothing, and
/// removing by `new` selects `old`). Nulls in `new` say nothing.
fn contains(old: &Value, new: &Value) -> bool {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            n.iter().filter(|(_, v)| !v.is_null()).all(|(k, v)| json::get_in(o, k) == Some(v))
                && n.values().any(|v| !v.is_null())
        }
        _ => old == new,
    }
}

/// The element an `eq`-only filter describes (`type eq "work" and primary eq true`); `None` for
/// any other filter, which cannot say what to create.
fn seed_from_filter(attr: &Attr<'_>, filter: &Filter) -> Option<Value> {
    fn walk(attr: &Attr<'_>, filter: &Filter, seed: &mut Map<String, Value>) -> bool {
        match filter {
            Filter::And(a, b) => walk(attr, a, seed) && walk(attr, b, seed),
            Filter::Compare { path, op: crate::CompareOp::Eq, value } if path.urn.is_none() && path.sub.is_none() => {
                match attr.sub(&path.name) {
                    Ok(sub) => match sub.coerce(value) {
                        Ok(v) if !v.is_null() => {
                            json::set_in(seed, sub.name(), v);
                            true
                        }
                        _ => false,
                    },
                    Err(_) => false,
                }
            }
            _ => false,
        }
    }
    let mut seed = Map::new();
    walk(attr, filter, &mut seed).then_some(Value::Object(seed))
}

/// `primary: true` appears at most once (RFC 7643 §2.4): the value an operation just marked
/// primary wins and the others lose the flag.
fn keep_one_primary(items: &mut [Value], touched: &[usize]) {
    let is_primary = |v: &Value| json::get_ci(v, "primary").is_some_and(|p| p == &Value::Bool(true));
    let Some(&winner) = touched.iter().rev().find(|&&i| items.get(i).is_some_and(is_primary)) else { return };
    for (i, item) in items.iter_mut().enumerate() {
        if i != winner
            && is_primary(item)
            && let Value::Object(o) = item
        {
            json::set_in(o, "primary", Value::Bool(false));
        }
    }
}
