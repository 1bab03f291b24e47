//! The fuzz seeds and corpus (`fuzz/seeds/<target>/`, `fuzz/corpus/<target>/`)
//! and every finding (`fuzz/findings/<target>/`) replayed through the fuzz targets
//! (`pairrm_web::fuzz`) in the ordinary test build: every input must return
//! (an error is fine, a panic is not) and stay within a bound on the heap it
//! takes, counted by this binary's allocator. Native only: no fuzzing in wasm.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use pairrm_web::fuzz::{Fixtures, Target};

/// Heap in use and its high-water mark, over all threads (the CPU engine's
/// products run on rayon's): one test in this binary, so nothing else counts.
struct Counting;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let now = IN_USE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                IN_USE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// The most heap one input may take beyond what was in use before it: a
/// multiple of its size (a weights file is decoded to f32 and packed for
/// the CPU engine: up to about 8 bytes held per byte read), plus room for
/// what any input gets (a tokenizer, the tiny model's activations).
const BYTES_PER_INPUT_BYTE: usize = 16;
const BASE_BYTES: usize = 16 << 20;

fn inputs(root: &Path, target: Target) -> Vec<PathBuf> {
    let dir = root.join(target.name());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_input_and_finding_returns_within_its_memory_bound() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = Fixtures::load(&repo.join("tests/fixtures")).expect("the fixtures load");
    let mut worst: Vec<String> = Vec::new();
    for target in Target::ALL {
        let seeds = inputs(&repo.join("fuzz/seeds"), target);
        let corpus = inputs(&repo.join("fuzz/corpus"), target);
        assert!(
            !seeds.is_empty() && !corpus.is_empty(),
            "fuzz/seeds/{0} or fuzz/corpus/{0} is empty: every target keeps both",
            target.name()
        );
        let findings = inputs(&repo.join("fuzz/findings"), target);
        let (mut most, mut most_input) = (0usize, String::new());
        for path in seeds.iter().chain(&corpus).chain(&findings) {
            let data = std::fs::read(path).expect("read a corpus input");
            let before = IN_USE.load(Ordering::Relaxed);
            PEAK.store(before, Ordering::Relaxed);
            target.run(&fixtures, &data);
            let taken = PEAK.load(Ordering::Relaxed).saturating_sub(before);
            let bound = BYTES_PER_INPUT_BYTE * data.len() + BASE_BYTES;
            assert!(
                taken <= bound,
                "{}: {} bytes of input took {taken} bytes of heap (bound {bound})",
                path.display(),
                data.len()
            );
            if taken > most {
                (most, most_input) = (taken, path.display().to_string());
            }
        }
        worst.push(format!(
            "{}: {} seeds, {} inputs, {} findings; most heap {most} B ({most_input})",
            target.name(),
            seeds.len(),
            corpus.len(),
            findings.len()
        ));
    }
    println!("{}", worst.join("\n"));
}
