//! Reading sources: which files a source holds, and each file parsed into a
//! title and a tree of sections (heading path + blocks).
//!
//! Markdown (front matter `title:`, ATX and setext headings, fenced code,
//! tables) and plain text / reStructuredText-like `.txt` and `.rst` (underlined
//! headings) go through one line-based parser: it is fast, never fails, and
//! keeps code blocks and tables whole so the chunker can too.

use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobMatcher};
use serde::Serialize;

use super::KnowledgeError;

/// The file extensions a source is read for.
pub const EXTENSIONS: &[&str] = &["md", "markdown", "txt", "rst"];

/// A configured set of documents: a folder, a file, or a glob.
#[derive(Debug, Clone)]
pub struct Source {
    /// Short name, stored with every chunk (filters, citations).
    pub name: String,
    /// The folder paths are relative to.
    pub root: PathBuf,
    /// Only files matching this (relative to `root`); every supported file when `None`.
    pub pattern: Option<GlobMatcher>,
    /// Links are `base_url` + the relative path; the file path when `None`.
    pub base_url: Option<String>,
}

impl Source {
    /// A source from a configured path: a folder, a single file, or a glob
    /// (`ops/**/*.md`: the folder before the first wildcard is the root).
    pub fn from_path(
        name: &str,
        path: &Path,
        base_url: Option<String>,
    ) -> Result<Self, KnowledgeError> {
        let text = path.to_string_lossy();
        if text.contains(['*', '?', '[', '{']) {
            let mut root = PathBuf::new();
            let mut rest = Vec::new();
            for comp in path.components() {
                let s = comp.as_os_str().to_string_lossy();
                if rest.is_empty() && !s.contains(['*', '?', '[', '{']) {
                    root.push(comp);
                } else {
                    rest.push(s.into_owned());
                }
            }
            let glob = Glob::new(&rest.join("/")).map_err(|e| KnowledgeError::Source {
                source_name: name.to_owned(),
                message: format!("bad glob `{text}`: {e}"),
            })?;
            return Ok(Self {
                name: name.to_owned(),
                root,
                pattern: Some(glob.compile_matcher()),
                base_url,
            });
        }
        if path.is_file() {
            let root = path.parent().map(Path::to_owned).unwrap_or_default();
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let glob = Glob::new(&globset::escape(&file)).map_err(|e| KnowledgeError::Source {
                source_name: name.to_owned(),
                message: e.to_string(),
            })?;
            return Ok(Self {
                name: name.to_owned(),
                root,
                pattern: Some(glob.compile_matcher()),
                base_url,
            });
        }
        Ok(Self {
            name: name.to_owned(),
            root: path.to_owned(),
            pattern: None,
            base_url,
        })
    }

    /// The supported files under the root, sorted, and the ones skipped with why.
    ///
    /// A docs repository is not trusted: a symlink is indexed only when it resolves to a
    /// regular file inside the root (`env.md -> /proc/self/environ` would otherwise be
    /// quoted to every chat user), symlinked folders are not followed, special files
    /// (fifos, sockets, devices) are never opened, and files over `max_bytes` are skipped.
    pub fn files(&self, max_bytes: u64) -> Result<Listing, KnowledgeError> {
        if !self.root.is_dir() {
            return Err(KnowledgeError::Source {
                source_name: self.name.clone(),
                message: format!("{} is not a folder", self.root.display()),
            });
        }
        let root = std::fs::canonicalize(&self.root).map_err(|source| KnowledgeError::Io {
            path: self.root.clone(),
            source,
        })?;
        let mut listing = Listing::default();
        // The root itself may be a symlink (a mounted docs checkout); nothing below it is followed.
        for entry in walkdir::WalkDir::new(&self.root).follow_links(false) {
            let entry = entry.map_err(|e| KnowledgeError::Source {
                source_name: self.name.clone(),
                message: e.to_string(),
            })?;
            if entry.file_type().is_dir() {
                continue;
            }
            let path = entry.path();
            let supported = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
            let Ok(rel) = path.strip_prefix(&self.root) else {
                continue;
            };
            // Hidden folders (.git, .github) are not documentation.
            let hidden = rel.components().any(|c| match c {
                Component::Normal(s) => s.to_string_lossy().starts_with('.'),
                _ => false,
            });
            if !supported || hidden {
                continue;
            }
            if let Some(p) = &self.pattern
                && !p.is_match(rel)
            {
                continue;
            }
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            match confined_file(&root, path, entry.file_type(), max_bytes) {
                Ok(target) => listing.files.push((rel, target)),
                Err(reason) => {
                    tracing::warn!(source = %self.name, path = %rel, %reason, "docs file skipped");
                    listing.skipped.push(Skipped { path: rel, reason });
                }
            }
        }
        listing.files.sort();
        listing.skipped.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(listing)
    }

    /// Where a citation of `rel_path` points.
    pub fn link(&self, rel_path: &str, anchor: Option<&str>) -> String {
        let base = match &self.base_url {
            Some(base) if base.ends_with('/') => format!("{base}{rel_path}"),
            Some(base) => format!("{base}/{rel_path}"),
            None => self.root.join(rel_path).display().to_string(),
        };
        match anchor {
            Some(a) if !a.is_empty() && self.base_url.is_some() => format!("{base}#{a}"),
            _ => base,
        }
    }
}

/// What [`Source::files`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    /// (relative path with `/`, the file to read: the link target for a symlink), sorted.
    pub files: Vec<(String, PathBuf)>,
    pub skipped: Vec<Skipped>,
}

/// A file under a source that is not indexed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Relative to the source's root, with `/`.
    pub path: String,
    pub reason: SkipReason,
}

/// Why a file is not indexed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    #[error("a symlink pointing outside the source folder")]
    LinkOutsideRoot,
    #[error("a symlink that does not resolve")]
    BrokenLink,
    #[error("not a regular file (a fifo, socket, device or folder)")]
    NotRegular,
    #[error("{bytes} bytes, over the {max}-byte limit ([knowledge] max_file_bytes)")]
    TooLarge { bytes: u64, max: u64 },
    #[error("cannot be read: {error}")]
    Unreadable { error: String },
}

/// The regular file `path` stands for, if it may be read: itself, or for a symlink its
/// target when that is inside `root` (canonical).
fn confined_file(
    root: &Path,
    path: &Path,
    file_type: std::fs::FileType,
    max_bytes: u64,
) -> Result<PathBuf, SkipReason> {
    let unreadable = |e: std::io::Error| SkipReason::Unreadable {
        error: e.to_string(),
    };
    let target = if file_type.is_symlink() {
        let target = std::fs::canonicalize(path).map_err(|_| SkipReason::BrokenLink)?;
        if !target.starts_with(root) {
            return Err(SkipReason::LinkOutsideRoot);
        }
        target
    } else {
        path.to_owned()
    };
    let meta = std::fs::symlink_metadata(&target).map_err(unreadable)?;
    check_meta(&meta, max_bytes)?;
    Ok(target)
}

fn check_meta(meta: &std::fs::Metadata, max_bytes: u64) -> Result<(), SkipReason> {
    if !meta.is_file() {
        return Err(SkipReason::NotRegular);
    }
    if meta.len() > max_bytes {
        return Err(SkipReason::TooLarge {
            bytes: meta.len(),
            max: max_bytes,
        });
    }
    Ok(())
}

/// A listed file's bytes, checked again when opened (it may have changed since the
/// listing) and never more than `max_bytes`: `Ok(Err(reason))` when it must be skipped now.
pub fn read_file(path: &Path, max_bytes: u64) -> std::io::Result<Result<Vec<u8>, SkipReason>> {
    use std::io::Read;
    // `path` is a plain file or a link's resolved target: checked before opening (so a
    // fifo is never opened) and again on the handle (so what is read is what was checked).
    let meta = std::fs::symlink_metadata(path)?;
    if let Err(reason) = check_meta(&meta, max_bytes) {
        return Ok(Err(reason));
    }
    let file = std::fs::File::open(path)?;
    if let Err(reason) = check_meta(&file.metadata()?, max_bytes) {
        return Ok(Err(reason));
    }
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    let len = bytes.len() as u64;
    if len > max_bytes {
        return Ok(Err(SkipReason::TooLarge {
            bytes: len,
            max: max_bytes,
        }));
    }
    Ok(Ok(bytes))
}

/// What kind of text a block is; code and tables are kept whole when they fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlockKind {
    #[default]
    Prose,
    Code,
    Table,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub kind: BlockKind,
    pub text: String,
}

/// The content under one heading (not its subsections).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Section {
    /// Headings from the top of the document down to this one, title excluded.
    pub headings: Vec<String>,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub title: String,
    pub sections: Vec<Section>,
}

/// Parses a file's text. The title is the front matter's `title:`, else the
/// first top-level heading, else the file name made readable.
pub fn parse(rel_path: &str, text: &str) -> Document {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let (front_title, body_start) = front_matter(&lines);
    let mut p = Parser::default();
    let mut i = body_start;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if p.in_comment {
            if line.contains("-->") {
                p.in_comment = false;
            }
            i += 1;
            continue;
        }
        if trimmed.starts_with("<!--") {
            if !trimmed.contains("-->") {
                p.in_comment = true;
            }
            i += 1;
            continue;
        }
        if let Some(fence) = fence_of(trimmed) {
            p.flush();
            let (code, next) = fenced_block(&lines, i, fence);
            p.push(BlockKind::Code, code);
            i = next;
            continue;
        }
        if let Some((level, heading)) = atx_heading(trimmed) {
            p.heading(level, heading);
            i += 1;
            continue;
        }
        // Setext / reST underline: a single text line followed by ===, ---, ~~~ ...
        if p.para.is_empty()
            && !trimmed.is_empty()
            && let Some(next) = lines.get(i + 1)
            && let Some(level) = underline_level(next, trimmed)
        {
            // reST overline: `====\nTitle\n====`; the overline was read as a paragraph line: no,
            // it is skipped below because an underline-only line never starts a paragraph.
            p.heading(level, trimmed.trim().to_owned());
            i += 2;
            continue;
        }
        if trimmed.is_empty() {
            p.flush();
        } else if is_rule(trimmed) {
            // A rule (or a reST overline) separates blocks and carries no text.
            p.flush();
        } else if trimmed.starts_with('|') {
            if p.para_kind != BlockKind::Table {
                p.flush();
                p.para_kind = BlockKind::Table;
            }
            p.para.push(line.trim_end());
        } else {
            if p.para_kind == BlockKind::Table {
                p.flush();
            }
            p.para.push(line.trim_end());
        }
        i += 1;
    }
    p.flush();
    let mut sections = p.sections;
    let title = document_title(
        rel_path,
        front_title,
        &mut sections,
        p.h1_count == 1,
        p.first_heading_is_h1,
    );
    sections.retain(|s| !s.blocks.is_empty());
    Document { title, sections }
}

/// The fenced code block opening at line `start` (fence included, up to the
/// closing fence or the end) and the line after it.
fn fenced_block(lines: &[&str], start: usize, fence: &str) -> (String, usize) {
    let mut code = vec![lines[start]];
    let mut i = start + 1;
    while i < lines.len() {
        code.push(lines[i]);
        let t = lines[i].trim();
        i += 1;
        if t.starts_with(fence) && t.chars().all(|c| c == fence.chars().next().unwrap_or('`')) {
            break;
        }
    }
    (code.join("\n"), i)
}

/// The front-matter title, else a lone leading H1 (taken out of the heading
/// paths), else one made from the path.
fn document_title(
    rel_path: &str,
    front_title: Option<String>,
    sections: &mut [Section],
    one_h1: bool,
    first_heading_is_h1: bool,
) -> String {
    match front_title {
        Some(t) => {
            // An H1 repeating the front-matter title is not a section heading.
            for s in sections.iter_mut() {
                if s.headings
                    .first()
                    .is_some_and(|h| h.eq_ignore_ascii_case(&t))
                    && one_h1
                {
                    s.headings.remove(0);
                }
            }
            t
        }
        None if one_h1 && first_heading_is_h1 => {
            let h1 = sections
                .iter()
                .find_map(|s| s.headings.first().cloned())
                .unwrap_or_default();
            for s in sections.iter_mut() {
                if !s.headings.is_empty() {
                    s.headings.remove(0);
                }
            }
            h1
        }
        None => title_from_path(rel_path),
    }
}

#[derive(Default)]
struct Parser<'a> {
    sections: Vec<Section>,
    /// (level, text) of the open headings.
    stack: Vec<(usize, String)>,
    para: Vec<&'a str>,
    para_kind: BlockKind,
    in_comment: bool,
    h1_count: usize,
    first_heading_is_h1: bool,
    seen_heading: bool,
}

impl Parser<'_> {
    fn current(&mut self) -> &mut Section {
        if self.sections.is_empty() {
            self.sections.push(Section::default());
        }
        let last = self.sections.len() - 1;
        &mut self.sections[last]
    }

    fn push(&mut self, kind: BlockKind, text: String) {
        if text.trim().is_empty() {
            return;
        }
        self.current().blocks.push(Block { kind, text });
    }

    fn flush(&mut self) {
        if !self.para.is_empty() {
            let text = self.para.join("\n");
            let kind = self.para_kind;
            self.para.clear();
            self.para_kind = BlockKind::Prose;
            self.push(kind, text);
        }
    }

    fn heading(&mut self, level: usize, text: String) {
        self.flush();
        if level == 1 {
            self.h1_count += 1;
            if !self.seen_heading {
                self.first_heading_is_h1 = true;
            }
        }
        self.seen_heading = true;
        while self.stack.last().is_some_and(|(l, _)| *l >= level) {
            self.stack.pop();
        }
        self.stack.push((level, text));
        self.sections.push(Section {
            headings: self.stack.iter().map(|(_, t)| t.clone()).collect(),
            blocks: Vec::new(),
        });
    }
}

fn front_matter(lines: &[&str]) -> (Option<String>, usize) {
    if lines.first().map(|l| l.trim_end()) != Some("---") {
        return (None, 0);
    }
    let Some(end) = lines
        .iter()
        .skip(1)
        .position(|l| matches!(l.trim_end(), "---" | "..."))
    else {
        return (None, 0);
    };
    let title = lines[1..=end].iter().find_map(|l| {
        let v = l.strip_prefix("title:")?.trim();
        let v = v.trim_matches(|c| c == '"' || c == '\'').trim();
        (!v.is_empty()).then(|| v.to_owned())
    });
    (title, end + 2)
}

fn fence_of(trimmed: &str) -> Option<&'static str> {
    if trimmed.starts_with("```") {
        Some("```")
    } else if trimmed.starts_with("~~~") {
        Some("~~~")
    } else {
        None
    }
}

fn atx_heading(trimmed: &str) -> Option<(usize, String)> {
    let level = trimmed.chars().take_while(|c| *c == '#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let rest = &trimmed[level..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let text = rest.trim().trim_end_matches('#').trim();
    let text = strip_inline(text);
    (!text.is_empty()).then_some((level, text))
}

/// `===` under a line is level 1, `---` level 2, `~~~`/`^^^`/`***` deeper (reST).
fn underline_level(line: &str, above: &str) -> Option<usize> {
    let t = line.trim_end();
    let first = t.chars().next()?;
    if t.len() < 3 || !t.chars().all(|c| c == first) {
        return None;
    }
    // reST requires the underline to be at least as long as the text; Markdown does not,
    // but a short `---` under a list item is more likely a rule.
    if t.chars().count() + 1 < above.trim().chars().count().min(3) {
        return None;
    }
    if above.starts_with(['-', '*', '+', '|', '>', '!']) || above.ends_with([':', ',']) {
        return None;
    }
    match first {
        '=' => Some(1),
        '-' => Some(2),
        '~' => Some(3),
        '^' | '*' | '"' => Some(4),
        _ => None,
    }
}

fn is_rule(trimmed: &str) -> bool {
    let t = trimmed.trim();
    let Some(first) = t.chars().next() else {
        return false;
    };
    t.len() >= 3
        && matches!(first, '-' | '=' | '*' | '_' | '~')
        && t.chars().all(|c| c == first || c == ' ')
}

/// Removes link targets and emphasis markers from a heading: `[Foo](x.md)` -> `Foo`.
fn strip_inline(text: &str) -> String {
    plain_links(text).replace(['*', '`'], "").trim().to_owned()
}

/// Markdown links and images reduced to their text: `[text](url)` -> `text`.
pub fn plain_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close_rel) = rest[open..].find("](") else {
            break;
        };
        let close = open + close_rel;
        let Some(end_rel) = rest[close + 2..].find(')') else {
            break;
        };
        let end = close + 2 + end_rel;
        let label = &rest[open + 1..close];
        // Nested brackets mean this is not a simple link; keep the text as is.
        if label.contains('[') {
            out.push_str(&rest[..=open]);
            rest = &rest[open + 1..];
            continue;
        }
        let before = rest[..open].strip_suffix('!').unwrap_or(&rest[..open]);
        out.push_str(before);
        out.push_str(label);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `user-guide/sync_options.md` -> `Sync options`.
pub fn title_from_path(rel_path: &str) -> String {
    let stem = Path::new(rel_path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let words = stem.replace(['-', '_'], " ");
    let mut chars = words.trim().chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => rel_path.to_owned(),
    }
}

/// A GitHub-style anchor for a heading: lowercase, spaces to `-`, punctuation dropped.
pub fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_headings_build_the_section_tree() {
        let doc = parse(
            "guide/rollbacks.md",
            "# Rolling back\n\nIntro text.\n\n## With Argo CD\n\nSteps.\n\n### From the CLI\n\n```sh\nargocd app rollback cart\n# not a heading\n```\n\n## By hand\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        );
        assert_eq!(doc.title, "Rolling back");
        let paths: Vec<Vec<String>> = doc.sections.iter().map(|s| s.headings.clone()).collect();
        assert_eq!(
            paths,
            vec![
                vec![],
                vec!["With Argo CD".to_owned()],
                vec!["With Argo CD".to_owned(), "From the CLI".to_owned()],
                vec!["By hand".to_owned()],
            ]
        );
        assert_eq!(doc.sections[2].blocks[0].kind, BlockKind::Code);
        assert!(doc.sections[2].blocks[0].text.contains("# not a heading"));
        assert_eq!(doc.sections[3].blocks[0].kind, BlockKind::Table);
    }

    #[test]
    fn front_matter_title_wins_and_comments_are_skipped() {
        let doc = parse(
            "x.md",
            "---\ntitle: \"Secrets\"\nowner: platform\n---\n# Secrets\n<!-- draft\nnote -->\nUse Vault.\n",
        );
        assert_eq!(doc.title, "Secrets");
        assert_eq!(doc.sections.len(), 1);
        assert_eq!(doc.sections[0].headings, Vec::<String>::new());
        assert_eq!(doc.sections[0].blocks[0].text, "Use Vault.");
    }

    #[test]
    fn underlined_headings_in_text_files() {
        let doc = parse(
            "runbook.txt",
            "Database failover\n=================\n\nWhen the primary dies.\n\nPromote a replica\n-----------------\n\nRun the script.\n",
        );
        assert_eq!(doc.title, "Database failover");
        assert_eq!(doc.sections[1].headings, ["Promote a replica"]);
    }

    #[test]
    fn untitled_files_are_named_after_the_path() {
        let doc = parse("ops/sync_options.md", "Just text.\n");
        assert_eq!(doc.title, "Sync options");
        assert_eq!(title_from_path("a/b/pod-failures.md"), "Pod failures");
    }

    #[cfg(unix)]
    #[test]
    fn a_single_file_source_that_links_out_is_skipped() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secrets.md"), "token").unwrap();
        let docs = tempfile::tempdir().unwrap();
        let link = docs.path().join("env.md");
        std::os::unix::fs::symlink(outside.path().join("secrets.md"), &link).unwrap();
        std::fs::write(docs.path().join("ok.md"), "fine").unwrap();
        for source in [
            Source::from_path("one", &link, None).unwrap(),
            Source::from_path("glob", &docs.path().join("*.md"), None).unwrap(),
        ] {
            let listing = source.files(1024).unwrap();
            assert_eq!(
                listing.skipped,
                [Skipped {
                    path: "env.md".into(),
                    reason: SkipReason::LinkOutsideRoot
                }],
                "{}",
                source.name
            );
            assert!(listing.files.iter().all(|(rel, _)| rel == "ok.md"));
        }
        let big = docs.path().join("ok.md");
        assert_eq!(
            read_file(&big, 2).unwrap(),
            Err(SkipReason::TooLarge { bytes: 4, max: 2 })
        );
        assert_eq!(read_file(&big, 4).unwrap(), Ok(b"fine".to_vec()));
    }

    #[test]
    fn links_are_reduced_to_their_text() {
        assert_eq!(
            plain_links("see [the guide](../x.md) and ![img](a.png) [x]"),
            "see the guide and img [x]"
        );
        assert_eq!(anchor("Raising a quota (prod)"), "raising-a-quota-prod");
    }
}
