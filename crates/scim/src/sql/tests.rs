use super::*;
use crate::filter::parse_filter;
use crate::schema::Registry;

/// A users table `r` with lowercased userName, plain columns, and emails in a side table `e`.
struct Layout;

impl SqlMapping for Layout {
    fn map(&self, path: &AttrPath) -> Option<Mapped> {
        let emails =
            || SideTable { table: "user_emails".into(), alias: "e".into(), correlation: "e.resource_id = r.id".into() };
        let key = path.to_string().to_ascii_lowercase();
        Some(match key.as_str() {
            "username" => Mapped::Column(Column::lowercased("r.user_name_lower")),
            "externalid" => Mapped::Column(Column::new("r.external_id")),
            "active" => Mapped::Column(Column::new("r.active")),
            "title" => Mapped::Column(Column::new("r.title")),
            "name.givenname" => Mapped::Column(Column::new("r.given_name")),
            "meta.lastmodified" => Mapped::Column(Column::new("r.updated_at")),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:employeenumber" => {
                Mapped::Column(Column::new("r.employee_number"))
            }
            "emails" | "emails.value" => Mapped::Multi { table: emails(), column: Column::new("e.value") },
            "emails.type" => Mapped::Multi { table: emails(), column: Column::new("e.type") },
            "emails.primary" => Mapped::Multi { table: emails(), column: Column::new("e.is_primary") },
            _ => return None,
        })
    }
}

fn lower(text: &str, dialect: Dialect) -> Result<SqlFilter, SqlError> {
    let registry = Registry::standard();
    let view = registry.resource_type("User").unwrap();
    lower_filter(&parse_filter(text).unwrap(), &Layout, view, dialect)
}

fn text(s: &str) -> SqlParam {
    SqlParam::Text(s.into())
}

#[test]
fn simple_comparisons_honour_case_and_layout() {
    let f = lower(r#"userName eq "Ann@X.com""#, Dialect::Postgres).unwrap();
    assert_eq!(f.sql, "(r.user_name_lower IS NOT NULL AND r.user_name_lower = $1)");
    assert_eq!(f.params, [text("ann@x.com")]);
    let f = lower(r#"externalId eq "E-1""#, Dialect::Sqlite).unwrap();
    assert_eq!(f.sql, "(r.external_id IS NOT NULL AND r.external_id = ?)");
    assert_eq!(f.params, [text("E-1")]);
    let f = lower(r#"title ne "CTO""#, Dialect::Sqlite).unwrap();
    assert_eq!(f.sql, "(r.title IS NULL OR LOWER(r.title) <> ?)");
    assert_eq!(f.params, [text("cto")]);
    let f = lower(r#"active eq "True""#, Dialect::Sqlite).unwrap();
    assert_eq!(f.params, [SqlParam::Bool(true)]);
    let f = lower("title pr and not (active eq false)", Dialect::Postgres).unwrap();
    assert_eq!(f.sql, "((r.title IS NOT NULL AND r.title <> '') AND NOT ((r.active IS NOT NULL AND r.active = $1)))");
    let f = lower("title eq null", Dialect::Postgres).unwrap();
    assert_eq!((f.sql.as_str(), f.params.len()), ("r.title IS NULL", 0));
}

#[test]
fn like_patterns_are_escaped_and_parameterised() {
    let f = lower(r#"title co "50%_off\\now""#, Dialect::Postgres).unwrap();
    assert_eq!(f.sql, "(r.title IS NOT NULL AND LOWER(r.title) LIKE $1 ESCAPE '\\')");
    assert_eq!(f.params, [text("%50\\%\\_off\\\\now%")]);
    let f = lower(r#"userName sw "A""#, Dialect::Sqlite).unwrap();
    assert_eq!(f.params, [text("a%")]);
    let f = lower(r#"externalId ew "x""#, Dialect::Postgres).unwrap();
    assert_eq!(f.sql, "(r.external_id IS NOT NULL AND r.external_id LIKE $1 ESCAPE '\\')");
    assert_eq!(f.params, [text("%x")]);
    // SQLite's LIKE ignores case, so case-exact substring tests avoid it.
    let f = lower(r#"externalId sw "E-""#, Dialect::Sqlite).unwrap();
    assert_eq!(f.sql, "(r.external_id IS NOT NULL AND substr(r.external_id, 1, length(?)) = ?)");
    assert_eq!(f.params, [text("E-"), text("E-")]);
    let f = lower(r#"title co """#, Dialect::Sqlite).unwrap();
    assert_eq!((f.sql.as_str(), f.params.len()), ("r.title IS NOT NULL", 0));
    let injection = lower(r#"title eq "x') OR 1=1 --""#, Dialect::Sqlite).unwrap();
    assert!(!injection.sql.contains("OR 1=1"));
}

#[test]
fn multi_valued_attributes_become_exists() {
    let f = lower(r#"emails[type eq "work" and value co "@example.com"]"#, Dialect::Postgres).unwrap();
    assert_eq!(
        f.sql,
        "EXISTS (SELECT 1 FROM user_emails e WHERE e.resource_id = r.id AND \
         ((e.type IS NOT NULL AND LOWER(e.type) = $1) AND (e.value IS NOT NULL AND LOWER(e.value) LIKE $2 ESCAPE '\\')))"
    );
    assert_eq!(f.params, [text("work"), text("%@example.com%")]);
    let f = lower(r#"emails[type eq "work"].value eq "A@X""#, Dialect::Sqlite).unwrap();
    assert!(f.sql.starts_with("EXISTS (SELECT 1 FROM user_emails e WHERE e.resource_id = r.id AND ("));
    let f = lower(r#"emails co "x" or emails.value pr"#, Dialect::Sqlite).unwrap();
    assert_eq!(f.sql.matches("EXISTS").count(), 2);
    let f = lower(r#"emails.value ne "a@x""#, Dialect::Sqlite).unwrap();
    assert!(f.sql.starts_with("(NOT EXISTS"), "{}", f.sql);
}

#[test]
fn urn_paths_and_datetimes() {
    let f = lower(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
        Dialect::Postgres,
    )
    .unwrap();
    assert_eq!(f.sql, "(r.employee_number IS NOT NULL AND LOWER(r.employee_number) = $1)");
    let f = lower(r#"meta.lastModified gt "2011-05-13T06:42:34+02:00""#, Dialect::Postgres).unwrap();
    assert_eq!(f.sql, "(r.updated_at IS NOT NULL AND r.updated_at > $1)");
    let SqlParam::Timestamp(ts) = &f.params[0] else { panic!("{:?}", f.params) };
    assert_eq!(ts.to_string(), "2011-05-13T04:42:34Z");
    let registry = Registry::standard();
    let view = registry.resource_type("User").unwrap();
    let filter = parse_filter(r#"userName eq "a" and title eq "b""#).unwrap();
    let f = SqlLowering::new(&Layout, Dialect::Postgres).with_schema(view).first_param(3).lower(&filter).unwrap();
    assert!(f.sql.contains("$3") && f.sql.contains("$4") && !f.sql.contains("$1"));
}

#[test]
fn what_cannot_be_lowered_is_a_typed_error() {
    assert_eq!(lower("nickName pr", Dialect::Sqlite), Err(SqlError::Unmapped { path: "nickName".into() }));
    assert!(matches!(lower("active gt true", Dialect::Sqlite), Err(SqlError::Unsupported(_))));
    assert!(matches!(lower("meta.lastModified gt \"soon\"", Dialect::Sqlite), Err(SqlError::Unsupported(_))));
    let scim: ScimError = lower("nickName pr", Dialect::Sqlite).unwrap_err().into();
    assert_eq!(scim.scim_type, Some(ScimType::InvalidFilter));
}
