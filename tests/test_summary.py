"""`--mode=summary` (gan_jax/summary.py): parameter tables from the config alone, never
reading data or compiling a train step, with the counts of the real initialised state."""
from __future__ import annotations

import jax
import pytest

from gan_jax import data, games, main, summary
from gan_jax.metrics import digits_net
from tests.helpers import recipe, recipe_names


class DataLoaderCalled(AssertionError):
    pass


@pytest.fixture
def no_data_loader(monkeypatch):
    """Stand-ins for every way of reading data: each fails the test when called."""
    def refuse(*args, **kwargs):
        raise DataLoaderCalled("--mode=summary read data")

    monkeypatch.setattr(data, "build", refuse)
    monkeypatch.setattr(data, "build_source", refuse)
    monkeypatch.setattr(data.Pipeline, "__init__", refuse)
    for builders in (data.BUILTIN, data.PREFIXES):
        for name in list(builders):
            monkeypatch.setitem(builders, name, refuse)


@pytest.mark.parametrize("name", recipe_names())
def test_summary_never_calls_the_data_loader(name, no_data_loader, capsys):
    main.run(recipe(name, ""), f"configs/{name}.py", None, "summary")
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["net", "parameters"]
    rows = [line.split() for line in table.splitlines()[2:]]
    assert {r[0][0] for r in rows} == {"g", "d"} and all(int(r[1].replace(",", "")) > 0
                                                         for r in rows), table
    # Caches filled while tracing hold concrete arrays (DTN's encoder weights), no tracers.
    assert not any(isinstance(x, jax.core.Tracer)
                   for x in jax.tree_util.tree_leaves(digits_net.load()[1]))


def test_summary_counts_equal_the_initialised_state(no_data_loader, monkeypatch):
    config = recipe("cyclegan", "smoke", **{"g.width": 8, "d.width": 8})
    table = summary.parameter_table(config)
    monkeypatch.undo()  # the real init reads a batch
    state = games.get(config.game).init(jax.random.PRNGKey(config.seed), config,
                                         data.build(config, 1).batch(0))
    rows = dict(line.split() for line in table.splitlines()[2:])
    for player, nets in (("g", ("ab", "ba")), ("d", ("a", "b"))):
        for net in nets:
            assert int(rows[f"{player}.{net}"].replace(",", "")) == summary.count(
                getattr(state, f"{player}_params")[net])
