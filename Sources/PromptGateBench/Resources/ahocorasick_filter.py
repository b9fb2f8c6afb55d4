# A second baseline for `promptgate bench --baseline`: pyahocorasick (an Aho-Corasick automaton in C) over the
# lower-cased prompt, the same JSON parse and dump. Exits 3 when pyahocorasick is not installed.
# Usage: python3 ahocorasick_filter.py TERMS_FILE < corpus.jsonl > verdicts.jsonl
import json
import sys

try:
    import ahocorasick
except ImportError:
    sys.exit(3)

automaton = ahocorasick.Automaton()
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        term = line.strip().lower()
        if term:
            automaton.add_word(term, term)
automaton.make_automaton()
out = sys.stdout
for number, line in enumerate(sys.stdin, 1):
    record = json.loads(line)
    hit = next(automaton.iter(record["prompt"].lower()), None)
    verdict = {"line": number, "id": record.get("id"), "decision": "block" if hit else "allow"}
    if hit:
        verdict["matched"] = hit[1]
    out.write(json.dumps(verdict, ensure_ascii=False) + "\n")
