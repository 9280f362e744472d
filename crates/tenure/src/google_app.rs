//! `tenure app check` for Google Workspace, as printed: the connector's declared operations and
//! meanings, and the one real request (the impersonated admin's own user) that proves the key,
//! the delegation and the scopes.

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
    match &check.problem {
        None => println!("  verified:   acting as the configured admin"),
        Some(p) => println!("  NOT provisionable: {p}"),
    }
}
