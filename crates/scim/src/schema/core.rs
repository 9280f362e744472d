//! RFC 7643 §8.7.1's User, Group and Enterprise User schemas and §3.1's common attributes.

use super::{AttrType, AttributeDef as A, Mutability, ResourceType, Returned, Schema, SchemaExtension, Uniqueness};
use crate::schemas;

pub(super) fn common_attributes() -> Vec<A> {
    vec![
        A::string("id")
            .describe("Unique identifier for the resource, assigned by the service provider.")
            .case_exact()
            .mutability(Mutability::ReadOnly)
            .returned(Returned::Always)
            .uniqueness(Uniqueness::Server),
        A::string("externalId")
            .describe("Identifier of the resource as defined by the provisioning client.")
            .case_exact(),
        A::complex(
            "meta",
            vec![
                A::string("resourceType").case_exact().mutability(Mutability::ReadOnly),
                A::new("created", AttrType::DateTime).mutability(Mutability::ReadOnly),
                A::new("lastModified", AttrType::DateTime).mutability(Mutability::ReadOnly),
                A::new("location", AttrType::Reference)
                    .case_exact()
                    .mutability(Mutability::ReadOnly)
                    .references(&["uri"]),
                A::string("version").case_exact().mutability(Mutability::ReadOnly),
            ],
        )
        .describe("Resource metadata.")
        .mutability(Mutability::ReadOnly),
    ]
}

/// `value`, `display`, `type`, `primary`: the shape most multi-valued User attributes share.
fn multi(name: &str, description: &str, value: A, types: &[&str]) -> A {
    A::complex(
        name,
        vec![
            value,
            A::string("display").describe("A human-readable name, primarily used for display purposes."),
            A::string("type").describe("A label indicating the attribute's function.").canonical(types),
            A::new("primary", AttrType::Boolean)
                .describe("Indicates the primary or preferred value; 'true' appears no more than once."),
        ],
    )
    .multi()
    .describe(description)
}

pub(super) fn user_schema() -> Schema {
    let string = A::string;
    let attributes = vec![
        string("userName")
            .describe("Unique identifier for the User, used to authenticate.")
            .required()
            .uniqueness(Uniqueness::Server),
        A::complex(
            "name",
            vec![
                string("formatted").describe("The full name, formatted for display."),
                string("familyName").describe("The family name (last name in most Western languages)."),
                string("givenName").describe("The given name (first name in most Western languages)."),
                string("middleName").describe("The middle name(s)."),
                string("honorificPrefix").describe("The honorific prefix(es), e.g. 'Ms.'."),
                string("honorificSuffix").describe("The honorific suffix(es), e.g. 'III'."),
            ],
        )
        .describe("The components of the user's real name."),
        string("displayName").describe("The name of the User, suitable for display to end-users."),
        string("nickName").describe("The casual way to address the user."),
        A::new("profileUrl", AttrType::Reference)
            .describe("A URI to the user's online profile.")
            .references(&["external"]),
        string("title").describe("The user's title, such as 'Vice President'."),
        string("userType").describe("Identifies the relationship between the organization and the user."),
        string("preferredLanguage").describe("The user's preferred written or spoken language."),
        string("locale").describe("The user's default location for localizing output."),
        string("timezone").describe("The User's time zone in IANA Time Zone database format."),
        A::new("active", AttrType::Boolean).describe("The User's administrative status."),
        string("password")
            .describe("The User's cleartext password, for setting or changing it.")
            .mutability(Mutability::WriteOnly)
            .returned(Returned::Never),
        multi(
            "emails",
            "Email addresses for the user.",
            string("value").describe("Email address."),
            &["work", "home", "other"],
        ),
        multi(
            "phoneNumbers",
            "Phone numbers for the User.",
            string("value").describe("Phone number."),
            &["work", "home", "mobile", "fax", "pager", "other"],
        ),
        multi(
            "ims",
            "Instant messaging addresses for the User.",
            string("value").describe("Instant messaging address."),
            &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
        ),
        multi(
            "photos",
            "URLs of photos of the User.",
            A::new("value", AttrType::Reference).describe("URL of a photo.").references(&["external"]),
            &["photo", "thumbnail"],
        ),
        A::complex(
            "addresses",
            vec![
                string("formatted").describe("The full mailing address, formatted for display."),
                string("streetAddress").describe("The full street address component."),
                string("locality").describe("The city or locality component."),
                string("region").describe("The state or region component."),
                string("postalCode").describe("The zip code or postal code component."),
                string("country").describe("The country name component."),
                string("type")
                    .describe("A label indicating the address's function.")
                    .canonical(&["work", "home", "other"]),
                A::new("primary", AttrType::Boolean).describe("Indicates the primary address."),
            ],
        )
        .multi()
        .describe("A physical mailing address for this User."),
        A::complex(
            "groups",
            vec![
                string("value").describe("The identifier of the User's group.").mutability(Mutability::ReadOnly),
                A::new("$ref", AttrType::Reference)
                    .describe("The URI of the corresponding Group resource.")
                    .references(&["User", "Group"])
                    .mutability(Mutability::ReadOnly),
                string("display").describe("A human-readable name.").mutability(Mutability::ReadOnly),
                string("type")
                    .describe("Whether membership is direct or indirect.")
                    .canonical(&["direct", "indirect"])
                    .mutability(Mutability::ReadOnly),
            ],
        )
        .multi()
        .describe("A list of groups to which the user belongs.")
        .mutability(Mutability::ReadOnly),
        multi(
            "entitlements",
            "A list of entitlements for the User.",
            string("value").describe("The entitlement."),
            &[],
        ),
        multi("roles", "A list of roles for the User.", string("value").describe("The role."), &[]),
        multi(
            "x509Certificates",
            "A list of certificates issued to the User.",
            A::new("value", AttrType::Binary).describe("The DER-encoded, base64 value of the certificate."),
            &[],
        ),
    ];
    Schema { id: schemas::USER.to_owned(), name: "User".to_owned(), description: "User Account".to_owned(), attributes }
}

pub(super) fn enterprise_user_schema() -> Schema {
    let string = A::string;
    let attributes = vec![
        string("employeeNumber").describe("Numeric or alphanumeric identifier assigned to a person."),
        string("costCenter").describe("Identifies the name of a cost center."),
        string("organization").describe("Identifies the name of an organization."),
        string("division").describe("Identifies the name of a division."),
        string("department").describe("Identifies the name of a department."),
        A::complex(
            "manager",
            vec![
                string("value").describe("The id of the SCIM resource representing the User's manager."),
                A::new("$ref", AttrType::Reference)
                    .describe("The URI of the manager's User resource.")
                    .references(&["User"]),
                string("displayName")
                    .describe("The displayName of the User's manager.")
                    .mutability(Mutability::ReadOnly),
            ],
        )
        .describe("The User's manager."),
    ];
    Schema {
        id: schemas::ENTERPRISE_USER.to_owned(),
        name: "EnterpriseUser".to_owned(),
        description: "Enterprise User".to_owned(),
        attributes,
    }
}

pub(super) fn group_schema() -> Schema {
    let attributes = vec![
        A::string("displayName").describe("A human-readable name for the Group.").required(),
        A::complex(
            "members",
            vec![
                A::string("value")
                    .describe("Identifier of the member of this Group.")
                    .mutability(Mutability::Immutable),
                A::new("$ref", AttrType::Reference)
                    .describe("The URI of the member resource.")
                    .references(&["User", "Group"])
                    .mutability(Mutability::Immutable),
                // Not in §8.7.1, but servers return it and IdPs send it (RFC 7643 §4.2 mentions it).
                A::string("display").describe("A human-readable name of the member.").mutability(Mutability::Immutable),
                A::string("type")
                    .describe("The type of the member.")
                    .canonical(&["User", "Group"])
                    .mutability(Mutability::Immutable),
            ],
        )
        .multi()
        .describe("A list of members of the Group."),
    ];
    Schema { id: schemas::GROUP.to_owned(), name: "Group".to_owned(), description: "Group".to_owned(), attributes }
}

pub(super) fn user_resource_type() -> ResourceType {
    ResourceType {
        id: "User".to_owned(),
        name: "User".to_owned(),
        endpoint: "/Users".to_owned(),
        description: "User Account".to_owned(),
        schema: schemas::USER.to_owned(),
        schema_extensions: vec![SchemaExtension { schema: schemas::ENTERPRISE_USER.to_owned(), required: false }],
    }
}

pub(super) fn group_resource_type() -> ResourceType {
    ResourceType {
        id: "Group".to_owned(),
        name: "Group".to_owned(),
        endpoint: "/Groups".to_owned(),
        description: "Group".to_owned(),
        schema: schemas::GROUP.to_owned(),
        schema_extensions: Vec::new(),
    }
}
