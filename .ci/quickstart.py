"""Print the commands of the README's Quickstart section, one per line."""
import pathlib
import re
import sys

text = pathlib.Path(__file__).resolve().parents[1].joinpath("README.md").read_text()
section = re.search(r"^#+\s*Quick\s*start.*?$(.*?)(?=^#+\s|\Z)", text, re.S | re.M | re.I)
if not section:
    sys.exit("README.md has no 'Quickstart' section")
for block in re.findall(r"```[a-z]*\n(.*?)```", section.group(1), re.S):
    for line in block.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            print(line)
