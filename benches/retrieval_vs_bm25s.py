#!/usr/bin/env python3
"""platbot's docs retrieval against bm25s, measured in the same run on the same files.

A bench-time tool, not run in CI. Needs `pip install bm25s PyStemmer` (a scratch venv) and a
release build of platbot:

    cargo build --release --bin platbot
    python benches/retrieval_vs_bm25s.py --docs ../shared/corpora/argocd-docs \
        --split ../shared/eval/retrieval_argocd_public.jsonl --set fresh=/path/to/fresh.jsonl

`--split FILE` evaluates FILE's two fixed halves apart: `tune` (odd lines, 1-based) and `report`
(even lines). Tune on one, report the other. `--runs 2` builds both indexes twice per set,
interleaved, reports each system's faster build (this machine's timings swing from run to run,
and both get the same number of tries) and says whether platbot's rankings were identical. `--config` passes a platbot config (e.g. one with
`[knowledge.embeddings]`).

The bm25s baseline follows `shared/eval/README.md`: English stemming and stopwords, one chunk
per Markdown section with the page title and heading path prepended. Its index time covers
reading, chunking, tokenizing and indexing the files; its query time covers tokenizing the
question, retrieving and collapsing chunks to files.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

FENCE = re.compile(r"^\s*(```|~~~)")
ATX = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def sections(rel, text):
    """(file, "title > headings\\nbody") per Markdown section, code fences respected."""
    title = None
    stack = []
    body = []
    out = []
    fence = False

    def flush():
        if body and any(line.strip() for line in body):
            head = " > ".join([title or rel] + [h for _, h in stack])
            out.append(head + "\n" + "\n".join(body))
        body.clear()

    for line in text.splitlines():
        if FENCE.match(line):
            fence = not fence
            body.append(line)
            continue
        m = None if fence else ATX.match(line)
        if m:
            flush()
            level, heading = len(m.group(1)), m.group(2)
            if level == 1 and title is None:
                title = heading
                continue
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading))
            continue
        body.append(line)
    flush()
    return out


def corpus(docs):
    files = []
    for root, dirs, names in os.walk(docs):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for n in sorted(names):
            if n.endswith(".md"):
                p = os.path.join(root, n)
                files.append((os.path.relpath(p, docs).replace(os.sep, "/"), p))
    return files


def metrics(ranks):
    n = max(len(ranks), 1)
    rec = lambda k: sum(1 for r in ranks if r is not None and r <= k) / n
    mrr = sum(1.0 / r for r in ranks if r is not None and r <= 10) / n
    return {"recall@1": rec(1), "recall@5": rec(5), "recall@10": rec(10), "mrr": mrr}


def first_rank(files, relevant):
    for i, f in enumerate(files[:10]):
        if f in relevant:
            return i + 1
    return None


class Bm25sBaseline:
    def __init__(self, docs):
        import bm25s
        import Stemmer

        started = time.perf_counter()
        self.stemmer = Stemmer.Stemmer("english")
        self.paths = []
        texts = []
        for rel, path in corpus(docs):
            with open(path, encoding="utf-8", errors="replace") as f:
                for s in sections(rel, f.read()):
                    self.paths.append(rel)
                    texts.append(s)
        tokens = bm25s.tokenize(texts, stopwords="en", stemmer=self.stemmer, show_progress=False)
        self.model = bm25s.BM25()
        self.model.index(tokens, show_progress=False)
        self.index_seconds = time.perf_counter() - started
        self.chunks = len(texts)
        self.bm25s = bm25s

    def ranked_files(self, question):
        q = self.bm25s.tokenize([question], stopwords="en", stemmer=self.stemmer, show_progress=False)
        k = min(100, self.chunks)
        docs, _ = self.model.retrieve(q, k=k, show_progress=False, n_threads=1)
        files = []
        for d in docs[0]:
            f = self.paths[int(d)]
            if f not in files:
                files.append(f)
        return files

    def evaluate(self, cases):
        self.ranked_files(cases[0]["question"])  # warm-up
        times, ranks = [], []
        for c in cases:
            t = time.perf_counter()
            files = self.ranked_files(c["question"])
            times.append((time.perf_counter() - t) * 1000)
            ranks.append(first_rank(files, c["relevant"]))
        m = metrics(ranks)
        m["index_seconds"] = self.index_seconds
        m["query_ms_p50"] = statistics.median(times)
        return m


def platbot(binary, config, set_path, docs):
    cmd = [binary]
    if config:
        cmd += ["--config", config]
    cmd += ["eval", "retrieval", set_path, "--docs", docs, "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", required=True)
    ap.add_argument("--platbot", default=os.environ.get("PLATBOT_BIN", "target/release/platbot"))
    ap.add_argument("--config")
    ap.add_argument("--split", action="append", default=[], help="a set evaluated as its tune and report halves")
    ap.add_argument("--set", action="append", default=[], help="NAME=PATH, a set evaluated whole")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="retrieval-sets-")
    sets = []
    for path in args.split:
        lines = [l for l in open(path, encoding="utf-8") if l.strip()]
        stem = os.path.splitext(os.path.basename(path))[0]
        for name, part in (("tune", lines[0::2]), ("report", lines[1::2])):
            p = os.path.join(tmp, f"{stem}-{name}.jsonl")
            with open(p, "w", encoding="utf-8") as f:
                f.writelines(part)
            sets.append((f"{stem} {name}", p))
    for s in args.set:
        name, _, path = s.partition("=")
        sets.append((name, path))
    if not sets:
        ap.error("give at least one --split or --set")

    rows = []
    deterministic = True
    for name, path in sets:
        cases = load(path)
        builds, runs = [], []
        for _ in range(args.runs):
            builds.append(Bm25sBaseline(args.docs))
            runs.append(platbot(args.platbot, args.config, path, args.docs))
        m = builds[-1].evaluate(cases)
        m["index_seconds"] = min(b.index_seconds for b in builds)
        rows.append((name, "bm25s", m))
        tops = [[c["top"] for c in r["cases"]] for r in runs]
        same = all(t == tops[0] for t in tops)
        deterministic &= same
        r = runs[0]
        rows.append((name, "platbot", {
            "recall@1": r["recall@1"], "recall@5": r["recall@5"], "recall@10": r["recall@10"],
            "mrr": r["mrr"], "index_seconds": min(x["index_seconds"] for x in runs),
            "query_ms_p50": statistics.median(x["query_ms_p50"] for x in runs),
            "missed": [c["id"] for c in r["cases"] if c["rank"] is None or c["rank"] > 5],
        }))

    if args.json:
        print(json.dumps([{"set": s, "system": n, **m} for s, n, m in rows], indent=2))
    else:
        print(f"| set | system | recall@1 | recall@5 | recall@10 | MRR@10 | index {len(corpus(args.docs))} files | query p50 |")
        print("|---|---|---|---|---|---|---|---|")
        for s, n, m in rows:
            print(f"| {s} | {n} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | {m['recall@10']:.3f} | {m['mrr']:.3f} "
                  f"| {m['index_seconds']:.3f} s | {m['query_ms_p50']:.3f} ms |")
        for s, n, m in rows:
            if m.get("missed"):
                print(f"{s}: platbot outside the top 5: {', '.join(m['missed'])}")
        if args.runs > 1:
            print(f"platbot rankings identical over {args.runs} runs: {'yes' if deterministic else 'NO'}")
    return 0 if deterministic else 1


if __name__ == "__main__":
    sys.exit(main())
