//! What every fuzz target calls: the fixtures, read once, and the target by name.

use std::path::Path;
use std::sync::OnceLock;

use pairrm_web::fuzz::{Fixtures, Target};

/// Run the target `name` on `data` (see `pairrm_web::fuzz`).
pub fn run(name: &str, data: &[u8]) {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    let fixtures = FIXTURES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        Fixtures::load(&dir).expect("the committed fixtures load")
    });
    Target::from_name(name)
        .expect("a known target")
        .run(fixtures, data);
}
