"""The runtime type checker the tests apply to snnjax (see ``pyproject.toml``).

beartype with the PEP 484 numeric tower, so an ``int`` is accepted where a
``float`` is annotated, as Python's typing rules say.
"""

import beartype

checker = beartype.beartype(conf=beartype.BeartypeConf(is_pep484_tower=True))
