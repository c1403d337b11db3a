// The migrations are embedded by `sqlx::migrate!`; a migration file added
// or changed must rebuild the crate, which cargo only knows when told.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
