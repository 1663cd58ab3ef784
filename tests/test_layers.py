"""The import picture: each layer of the library imports only the layers below it.

core (no Flax) → nn → convert → simulate → methods → train; plumbing modules
(data, checkpoint, parallel, plots, presets, nir) sit beside them and are never
imported by the core or nn. Read from the source with ``ast``, so a new import
that breaks the layering fails here rather than as a cycle later.
"""

import ast
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = {"neurons", "surrogate", "traces", "encoders", "quant", "noise", "_checks", "_compat", "_tree", "xla"}
# what each layer may import (besides itself and the standard / third-party libraries)
ALLOWED = {
    "core": {"core"},
    "nn": {"core", "nn"},
    "convert": {"core", "nn", "convert"},
    "simulate": {"core", "nn", "convert", "simulate", "parallel"},
    "methods": {"core", "nn", "convert", "simulate", "methods"},
    "train": None,  # the program: anything
}


def _layer(module: str) -> str:
  parts = module.split(".")[1:]
  if not parts:
    return "package"
  return "core" if parts[0] in CORE else parts[0]  # a plumbing module is its own layer


def _imports():
  out = {}
  for path in glob.glob(os.path.join(ROOT, "snnjax", "**", "*.py"), recursive=True):
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".").removesuffix(".__init__")
    deps = set()
    for node in ast.walk(ast.parse(open(path).read())):
      if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("snnjax"):
        if node.module == "snnjax":  # from snnjax import simulate, _checks, ...
          deps |= {f"snnjax.{a.name}" for a in node.names}
        else:
          deps.add(node.module)
      elif isinstance(node, ast.Import):
        deps |= {a.name for a in node.names if a.name.startswith("snnjax")}
    out[rel] = deps
  return out


def test_each_layer_imports_only_the_layers_below_it():
  bad = []
  for module, deps in _imports().items():
    allowed = ALLOWED.get(_layer(module))
    if allowed is None:
      continue
    for d in deps:
      if _layer(d) not in allowed and d != "snnjax":
        bad.append(f"{module} imports {d}")
  assert not bad, "\n".join(sorted(bad))


def test_the_core_does_not_use_flax():
  for name in CORE - {"_compat"}:  # _compat holds the Flax-version shims the nn layer uses
    src = open(os.path.join(ROOT, "snnjax", f"{name}.py")).read()
    assert "flax" not in src, name

