"""Write the JSON form of each config/*.yaml in a function bundle (lambda/Makefile's build-<Function>).

    python lambda/compile_config.py BUNDLE_DIR

BUNDLE_DIR is the function's artefact directory after bot/, handlers/ and config/ were copied into it; this
runs the bundle's own bot.config_source (BUNDLE_DIR first on sys.path), so the JSON is made by the very code
that reads it. Each config/NAME.yaml gets config/NAME.yaml.json (bot.config_source.compile_config: the
settings and the SHA-256 of the YAML bytes). Any *.yaml.json already there is removed first: only what this
build made is shipped. A file whose settings JSON cannot carry exactly gets no JSON, and the function reads
its YAML. Needs PyYAML for the Python that runs it (lambda/Makefile provides it if missing).
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    bundle = Path(argv[0]).resolve()
    sys.path.insert(0, str(bundle))
    from bot.config_source import COMPILED_SUFFIX, ConfigError, compile_config, compiled_path

    config_dir = bundle / "config"
    for stale in config_dir.glob(f"*.yaml{COMPILED_SUFFIX}"):
        stale.unlink()
    for path in sorted(config_dir.glob("*.yaml")):
        try:
            text = compile_config(path)
        except ConfigError as error:
            print(f"compile_config: {error}", file=sys.stderr)
            return 1
        if text is None:
            print(f"compile_config: {path.name}: JSON cannot carry its settings exactly; the YAML is read instead")
            continue
        compiled_path(path).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
