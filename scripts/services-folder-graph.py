#!/usr/bin/env python3
"""For each folder of Sources/PGBackupServices, the other folders whose top-level type names its
files mention (comments and string literals aside), then the cycles among folders.
Usage: scripts/services-folder-graph.py [Sources/PGBackupServices]"""
import os, re, sys, itertools
root = sys.argv[1] if len(sys.argv) > 1 else "Sources/PGBackupServices"
decl = re.compile(r"^(?:@\w+\s+)*(?:(?:public|internal|private|fileprivate|package|final|nonisolated|indirect)\s+)*(?:struct|enum|class|actor|protocol|typealias)\s+([A-Z]\w*)", re.M)
def strip(text):
    text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
    text = re.sub(r'//[^\n]*', '', text)
    return re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)
files = {}
for dirpath, _, names in os.walk(root):
    for n in names:
        if n.endswith(".swift"):
            p = os.path.join(dirpath, n)
            folder = os.path.relpath(dirpath, root)
            files[p] = (folder if folder != "." else "(top)", strip(open(p).read()))
owner = {}
for p, (folder, text) in files.items():
    for name in decl.findall(text):
        # nested types share names across folders (Options, Progress...): count only top-level
        owner.setdefault(name, set()).add(folder)
owner = {k: next(iter(v)) for k, v in owner.items() if len(v) == 1}
deps = {}
for p, (folder, text) in files.items():
    words = set(re.findall(r'\b[A-Z]\w*\b', text))
    for w in words:
        f = owner.get(w)
        if f and f != folder and f != "(top)":
            deps.setdefault(folder, {}).setdefault(f, set()).add(w)
for folder in sorted(set(f for f, _ in files.values())):
    d = deps.get(folder, {})
    print(f"{folder} -> " + ", ".join(f"{t} ({', '.join(sorted(ws)[:4])}{'…' if len(ws) > 4 else ''})" for t, ws in sorted(d.items())))
# cycles: strongly connected components
graph = {f: set(d) for f, d in deps.items()}
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1; stack.append(v); on.add(v)
    for w in graph.get(v, ()):
        if w not in index: visit(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(sorted(comp))
for v in list(graph): 
    if v not in index: visit(v)
print("cycles (strongly connected folders):", sccs if sccs else "none")
for comp in sccs:
    for a, b in itertools.permutations(comp, 2):
        if b in deps.get(a, {}):
            print(f"  {a} -> {b}: {', '.join(sorted(deps[a][b]))}")
