//! The layers are one-way: a module of `src/` names only modules of lower layers (test code
//! aside). The table is the one drawn in ARCHITECTURE.md; a new top-level module must be
//! placed in it, or this test fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Bottom to top. A module may use the modules of the layers below its own, not above or
/// beside it.
const LAYERS: &[&[&str]] = &[
    &["domain", "telemetry"],
    &["config"],
    &["store", "knowledge"],
    &["platform"],
    &["approval"],
    &["actions"],
    &["engine"],
    &["chat"],
    &["server"],
    &["eval", "sandbox"],
    &["startup"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file without its test code: `tests.rs` files are all test code, and an inline
/// `#[cfg(test)] mod ...` runs to the end of the file by this crate's convention.
fn product_code(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    without_tests(&std::fs::read_to_string(path).expect("read source"))
}

fn without_tests(text: &str) -> String {
    match text.find("#[cfg(test)]\nmod ") {
        Some(at) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

/// The top-level modules a piece of code names as `crate::<module>`.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue; // `platbot_crate::` and the like
        }
        let rest = &code[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

#[test]
fn lower_layers_never_name_higher_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a path");
        let module = first.trim_end_matches(".rs");
        if matches!(module, "lib" | "main") {
            continue;
        }
        let Some(own) = layer_of(module) else {
            wrong.push(format!("{module} is in no layer: add it to LAYERS"));
            continue;
        };
        for used in named_modules(&product_code(file)) {
            if used == module {
                continue;
            }
            match layer_of(&used) {
                Some(theirs) if theirs < own => {}
                Some(_) => wrong.push(format!("{} names crate::{used}", relative.display())),
                None => {} // a crate-root item (a macro or re-export), not a module
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_an_upward_import() {
    let code = "use crate::engine::Engine;\nfn f() { crate::domain::x(); }\n#[cfg(test)]\nmod tests { use crate::server::serve; }\n";
    let names = named_modules(&without_tests(code));
    assert_eq!(
        names,
        BTreeSet::from(["domain".to_owned(), "engine".to_owned()])
    );
    assert!(layer_of("engine") > layer_of("store"));
}
