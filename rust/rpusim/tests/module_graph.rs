//! The engine's modules outside `device/` form no import circle (docs/architecture.md draws
//! the layers): every `crate::` path a module's code names points to a module below it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// The top-level module of every source file: `src/x.rs` and `src/x/...` are module `x`.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules the code of `text` names as `crate::module`, leaving out comments and the unit
/// tests (`#[cfg(test)] mod tests`, the end of a file by convention).
fn used_modules(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    let mut used = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `crate::{a, b}` names several.
            if name.is_empty() && rest.starts_with('{') {
                let list = &rest[1..rest.find('}').unwrap_or(rest.len())];
                used.extend(
                    list.split(',')
                        .map(|p| p.trim().split("::").next().unwrap().to_string()),
                );
            } else {
                used.insert(name);
            }
        }
    }
    used
}

/// The graph `module -> modules it uses` of `src/`.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = module_of(src, &file);
        let mut used = used_modules(&fs::read_to_string(&file).unwrap());
        used.remove(&module);
        graph.entry(module).or_default().extend(used);
    }
    graph
}

/// A circle of `graph` as the list of its modules, if there is one (depth-first search).
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_modules_form_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    // lib.rs names every module; it is the top, not part of the layers.
    let graph: BTreeMap<_, _> = graph.into_iter().filter(|(m, _)| m != "lib").collect();
    assert!(graph.contains_key("tile") && graph["tile"].contains("backend"));
    assert_eq!(
        circle(&graph),
        None,
        "an import circle among the modules: {graph:#?}"
    );
}

#[test]
fn a_circle_is_found() {
    let edges = |pairs: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in pairs {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    let found = circle(&edges(&[
        ("config", "mapping"),
        ("mapping", "pulse"),
        ("pulse", "config"),
    ]));
    assert_eq!(found.map(|c| c.len()), Some(4));
    assert_eq!(
        circle(&edges(&[
            ("tile", "io"),
            ("io", "config"),
            ("tile", "config")
        ])),
        None
    );
    assert_eq!(
        used_modules("use crate::{a, b::C};\n// crate::d\nfn f() { crate::e::g() }\n#[cfg(test)]\nmod tests { use crate::h; }"),
        ["a", "b", "e"].iter().map(|s| s.to_string()).collect()
    );
}
