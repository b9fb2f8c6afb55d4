# The baseline `promptgate bench --baseline` compares with: the naive filter a team writes first. One regex
# alternation of the terms (case-insensitive), one JSON parse and one JSON dump a line.
# Usage: python3 naive_filter.py TERMS_FILE < corpus.jsonl > verdicts.jsonl
import json
import re
import sys

with open(sys.argv[1], encoding="utf-8") as f:
    terms = [line.strip() for line in f if line.strip()]
pattern = re.compile("|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True)), re.I)
out = sys.stdout
for number, line in enumerate(sys.stdin, 1):
    record = json.loads(line)
    hit = pattern.search(record["prompt"])
    verdict = {"line": number, "id": record.get("id"), "decision": "block" if hit else "allow"}
    if hit:
        verdict["matched"] = hit.group(0)
    out.write(json.dumps(verdict, ensure_ascii=False) + "\n")
