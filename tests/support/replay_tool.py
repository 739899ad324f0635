"""Replays a benchmark tool's captured output with realistic timing, as the tool itself would print.

``python replay_tool.py FILE [--scale S] [--exit CODE] [--result SRC DEST]``: prints FILE line by
line with a pause before progress lines, writing tqdm's carriage-return redraws one at a time
(the way tqdm does), so a follower sees progress arrive over time; ``--result`` copies a result
file into place when the run ends, as ``--save-result`` does.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--scale", type=float, default=0.001, help="seconds per progress step")
    parser.add_argument("--exit", type=int, default=0)
    parser.add_argument("--result", nargs=2, metavar=("SRC", "DEST"))
    args = parser.parse_args()
    out = sys.stdout
    with open(args.file, encoding="utf-8") as f:
        text = f.read()
    for line in text.split("\n"):
        if "\r" in line or "it/s]" in line or "s/it]" in line:
            # captured logs often lost tqdm's carriage returns: put them back between redraws
            for redraw in re.split(r"\r|(?<=\])(?=\s*[0-9]+%\|)", line):
                out.write(redraw + "\r")
                out.flush()
                time.sleep(args.scale)
            out.write("\n")
        else:
            if line.lstrip().startswith(("Run ", "Running test", "Warmup")):
                time.sleep(args.scale * 5)
            out.write(line + "\n")
        out.flush()
    if args.result:
        shutil.copyfile(args.result[0], args.result[1])
    return int(args.exit)


if __name__ == "__main__":
    sys.exit(main())
