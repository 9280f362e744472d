//! `tenure app check` for Google Workspace, as printed: the connector's declared operations and
//! meanings, and the one real request (the impersonated admin's own user) that proves the key,
//! the delegation and the scopes; where Tenure manages licenses, one License Manager listing per
//! SKU, which proves the apps.licensing scope.

use tenure_engine::admin::AppCheck;

pub fn print_check(check: &AppCheck) {
    let name = &check.app;
    println!("{name}: Google Workspace (Admin SDK Directory API)");
    if let Some(descriptor) = &check.descriptor {
        let ops: Vec<String> = descriptor.operations.iter().map(|o| format!("{o:?}").to_lowercase()).collect();
        println!("  operations: {}", ops.join(", "));
    }
    println!("  deactivate: suspends the user (data and license kept)");
    println!("  delete:     permanent (an admin can restore the user for 20 days)");
    println!("  deprovision here: {}", check.deprovision);
    let licenses = descriptor_has_licenses(check);
    if licenses {
        println!(
            "  licenses:   through License Manager (scope {} delegated to the service account)",
            tenure_connectors::google_workspace::licensing::SCOPE
        );
    } else {
        println!(
            "  licenses:   not managed (name SKUs with `tenure app edit {name} --license-skus PRODUCT:SKU=TIER,...`)"
        );
    }
    match (&check.problem, &check.found) {
        (None, Some(found)) => println!("  verified:   {found}"),
        (None, None) => println!("  verified:   acting as the configured admin"),
        (Some(p), _) => println!("  NOT provisionable: {p}"),
    }
}

fn descriptor_has_licenses(check: &AppCheck) -> bool {
    check.descriptor.as_ref().is_some_and(|d| d.supports(tenure_connectors::Operation::Licenses))
}
