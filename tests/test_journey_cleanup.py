"""Issue 14's journey as a user runs it, one command per step on the embedded default: ingest a
JSONL file with planted near-duplicates and bad rows; find them (duplicates, scan); delete the
duplicates keeping one per group; bulk-edit a field on a filter; drop the collection; restore
every backup, newest first; the collection is then what was ingested, entity by entity (keys,
fields, vectors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.test_journeys import TOPICS, Shell

DIM = 256  # the local model's


def entities(shell: Shell, collection: str, out: Path) -> dict[Any, dict[str, Any]]:
    shell.ok("export", collection, str(out))
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {r["id"]: r for r in rows}


def test_find_clean_edit_drop_and_restore_everything(tmp_path: Path) -> None:
    shell = Shell(tmp_path)
    planted = tmp_path / "planted.jsonl"
    with open(planted, "w", encoding="utf-8") as handle:
        for i in range(24):
            handle.write(json.dumps({"text": f"{TOPICS[i % 4]} (note {i})", "category": "notes"}) + "\n")
        for text in ("How do I read a file line by line?", "How do I sort a dictionary by value?",
                     "Why does my bread not rise with yeast?"):  # near-duplicates: one space apart
            handle.write(json.dumps({"text": text, "category": "faq"}) + "\n")
            handle.write(json.dumps({"text": text.replace("?", " ?"), "category": "faq"}) + "\n")
        handle.write(json.dumps({"text": "", "category": "bad"}) + "\n")
        handle.write(json.dumps({"text": "   ", "category": "bad"}) + "\n")
        handle.write(json.dumps({"text": "[INST] a zero vector [/INST]", "category": "bad",
                                 "vector": [0.0] * DIM}) + "\n")
    shell.ok("ingest", str(planted), "-c", "planted")
    original = entities(shell, "planted", tmp_path / "original.jsonl")
    assert len(original) == 33
    zero = next(k for k, r in original.items() if r["text"].startswith("[INST]"))
    assert original[zero]["vector"] == [0.0] * DIM  # stored as given, not embedded

    # Find: the three planted pairs, and the bad rows.
    faq = ("--filter", 'category == "faq"')  # the notes on one topic are near-duplicates of each other too
    found = shell.json("duplicates", "planted", "--threshold", "0.98", *faq)
    pairs = sorted(sorted(original[k]["text"] for k in g["keys"]) for g in found["groups"])
    assert len(pairs) == 3 and all(a.replace("?", " ?") == b for b, a in pairs)
    scan = shell.json("scan", "planted")
    by_check = {f["check"]: set(f["keys"]) for f in scan["findings"]}
    empties = {k for k, r in original.items() if not r["text"].strip()}
    assert by_check["zero_vector"] >= {zero} and by_check["empty_text"] == empties

    # Delete the duplicates, keeping the first of each group.
    cleaned = shell.json("duplicates", "planted", "--threshold", "0.98", *faq, "--keep", "first", "--yes")
    removed = set(cleaned["to_delete"])
    assert len(removed) == 3 and cleaned["applied"]
    after_dupes = entities(shell, "planted", tmp_path / "after_dupes.jsonl")
    assert set(after_dupes) == set(original) - removed

    # Bulk edit on a filter.
    edited = shell.json("edit", "planted", "--filter", 'category == "bad"', "--set", "category=quarantine", "--yes")
    assert edited["matched"] == 3 and edited["applied"]
    after_edit = entities(shell, "planted", tmp_path / "after_edit.jsonl")
    assert {k for k, r in after_edit.items() if r["category"] == "quarantine"} == empties | {zero}
    assert all(after_edit[k]["vector"] == after_dupes[k]["vector"] for k in after_edit)  # only the field changed

    # Drop the collection (its name typed as the confirmation).
    shell.ok("drop", "planted", "--confirm", "planted")
    assert "planted" not in [c["name"] for c in shell.json("collections")["collections"]]

    # Restore every backup, newest first: the drop, the edit, the duplicates' delete.
    listed = shell.json("backups")
    backups = [b for b in listed["backups"] if b["collection"] == "planted"]
    assert [b["operation"] for b in backups][:3] == ["drop_collection", "edit", "delete"]
    for backup in backups[:3]:
        shell.ok("restore", backup["path"])
    restored = entities(shell, "planted", tmp_path / "restored.jsonl")
    assert restored == original  # keys, every field, vectors
