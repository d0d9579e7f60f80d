"""common.wire serialises every OCPP 1.6 and 2.0.1 message exactly as the `ocpp` library's own pipeline
does.

If a library upgrade changes how replies are serialised (asdict, remove_nones, snake_to_camel_case), this
fails: then firmware/ocpp/common/wire.py must follow it.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.v16 import call, call_result
from ocpp.v201 import call as call_201
from ocpp.v201 import call_result as call_result_201

from firmware.ocpp.common.wire import payload


def message_classes(module: Any) -> list[Any]:
    return [c for _, c in inspect.getmembers(module, inspect.isclass)
            if dataclasses.is_dataclass(c) and c.__module__ == module.__name__]


REPLIES = message_classes(call_result)
REQUESTS = message_classes(call)
REPLIES_201 = message_classes(call_result_201)
REQUESTS_201 = message_classes(call_201)
# snake_case keys, including the library's special cases
KEYS = st.sampled_from(["key", "readonly", "value", "id_tag_info", "soc", "state_of_charge", "my_url",
                        "csms_url", "ocpp_csms_url", "v2x_mode", "socket_id", "parent_id_tag", "a_b_c"])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    KEYS, inner, max_size=3), max_leaves=12)


def library_wire(reply: Any) -> Any:
    return snake_to_camel_case(remove_nones(serialize_as_dict(reply)))


def test_there_are_replies_to_check() -> None:
    assert len(REPLIES) > 30 and call_result.GetConfiguration in REPLIES
    assert len(REPLIES_201) > 60 and call_result_201.GetVariables in REPLIES_201


@settings(max_examples=300, deadline=None)
@given(cls=st.sampled_from(REPLIES + REQUESTS + REPLIES_201 + REQUESTS_201), data=st.data())
def test_every_message_class_serialises_as_the_library_does(cls: Any, data: st.DataObject) -> None:
    values = {f.name: data.draw(VALUES, label=f.name) for f in dataclasses.fields(cls)}
    message = cls(**values)
    assert payload(message) == library_wire(message)


def test_a_get_configuration_reply_on_the_wire() -> None:
    reply = call_result.GetConfiguration(
        configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                           {"key": "AuthorizationKey", "readonly": False, "value": None}],
        unknown_key=None)
    assert json.dumps(payload(reply)) == json.dumps(library_wire(reply))
    assert payload(reply) == {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False,
                                                    "value": "300"},
                                                   {"key": "AuthorizationKey", "readonly": False}]}
