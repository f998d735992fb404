"""The budgeted YAML loader itself (issue 14, item 3): the expansion is measured on the node
graph, linearly, with merges, recursion and depth handled."""

from __future__ import annotations

import pytest

from cvpipe.errors import InputError
from cvpipe.yamlsafe import YAMLLimitError, YAMLLimits, check_node, load_yaml
from reliability.test_yaml_bombs import bomb_lines

def test_limits_count_the_expansion_not_the_text():
    small = YAMLLimits(nodes=100, chars=1000, depth=10)
    assert load_yaml("a: &x [1, 2, 3]\nb: *x\nc: {<<: {q: 1}}", limits=small) == \
        {"a": [1, 2, 3], "b": [1, 2, 3], "c": {"q": 1}}
    with pytest.raises(YAMLLimitError) as e:
        load_yaml("a: &x [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [*x, *x, *x, *x, *x, *x, *x, *x, *x, *x]", file="f.yaml",
                  limits=small)
    assert isinstance(e.value, InputError) and e.value.exit_code == 2
    assert str(e.value).startswith("f.yaml:2: ") and "more than 100 values" in str(e.value)
    with pytest.raises(YAMLLimitError, match="more than 1000 characters"):
        load_yaml(f"a: &x {'y' * 300}\nb: [*x, *x, *x, *x]", limits=small)
    with pytest.raises(YAMLLimitError, match="nests more than 10 levels"):
        load_yaml("[" * 11 + "]" * 11, limits=small)
    with pytest.raises(YAMLLimitError, match="nested too deeply"):
        load_yaml("[" * 5000 + "]" * 5000)


def test_shared_nodes_are_measured_once():
    """A 30-level bomb (9**30 values) is refused as fast as a 9-level one: linear work."""
    import yaml

    node = yaml.compose("\n".join(bomb_lines(30)), Loader=yaml.SafeLoader)
    with pytest.raises(YAMLLimitError):
        check_node(node, file="x")
    check_node(yaml.compose("\n".join(bomb_lines(3)), Loader=yaml.SafeLoader))  # 9**3: fine
