// `sqlx::migrate!` embeds the SQL files at compile time; rebuild when they change (both
// backends' directories: a change to only the PostgreSQL twin must rebuild too).
fn main() {
    println!("cargo:rerun-if-changed=../../migrations/sqlite");
    println!("cargo:rerun-if-changed=../../migrations/postgres");
}
