"""Write the tiny GPT-2 + MAC test bundle (bundles/tiny-random) from seeded random weights.

The library behind it is mnemo_models.bundle.format1;
`python -m mnemo_models.build_tiny_bundle --help` lists the options.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from mnemo_models.bundle.format1 import random_tiny, write_bundle, __doc__ as USAGE


def main(argv=None):
    ap = argparse.ArgumentParser(description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    lm, mac = random_tiny(args.seed)
    if args.out.exists():
        shutil.rmtree(args.out)
    training = {"note": f"random weights (seed {args.seed}) for tests; not trained"}
    manifest = write_bundle(lm, mac, args.out, "tiny-random", training, {})
    total = sum(f["bytes"] for f in manifest["files"].values())
    print(f"bundle {manifest['id']} -> {args.out} ({total / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
