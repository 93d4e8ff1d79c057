"""The wire protocol without any I/O: decoding and the connection state table."""

import pytest

from hudhud.protocol.frames import Ack, Hello, PresenceSubscribe, ProtocolError, Send, decode
from hudhud.protocol.state import ConnectionState, State


def test_decode_send_to_user():
    frame, ref = decode(b'{"type":"send","id":"m1","to":"uabc","content":{"type":"text","text":"hi"},"ref":7}')
    assert frame == Send("m1", {"type": "text", "text": "hi"}, None, "uabc")
    assert ref == 7


def test_unknown_fields_are_ignored():
    frame, _ = decode('{"type":"ack","conversation_id":"c1","seq":3,"future_field":true}')
    assert frame == Ack("c1", 3)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "bad_frame"),
        ("[1,2]", "bad_frame"),
        ('{"no":"type"}', "bad_frame"),
        ('{"type":"teleport"}', "unknown_frame"),
        ('{"type":"send","id":"m","content":{}}', "bad_frame"),  # neither to nor conversation_id
        ('{"type":"send","id":"m","to":"u","conversation_id":"c","content":{}}', "bad_frame"),  # both
        ('{"type":"send","id":"m","to":"u"}', "bad_frame"),  # no content
        ('{"type":"send","id":7,"to":"u","content":{}}', "bad_frame"),  # an id that is not a string
        ('{"type":"ack","conversation_id":"c","seq":-1}', "bad_frame"),
        ('{"type":"ack","conversation_id":"c","seq":true}', "bad_frame"),
        ('{"type":"ack","conversation_id":"c","seq":"5"}', "bad_frame"),
        ('{"type":"typing","conversation_id":"c","state":"shouting"}', "bad_frame"),
        ('{"type":"presence_subscribe","user_ids":"u1"}', "bad_frame"),
        ('{"type":"hello","v":"1","token":"t"}', "bad_frame"),
    ],
)
def test_bad_frames_have_stable_codes(raw, code):
    with pytest.raises(ProtocolError) as err:
        decode(raw)
    assert err.value.code == code


def test_a_client_message_id_of_the_wrong_length_is_the_operations_rule_not_a_bad_frame():
    """Decoding takes any string id; its length is checked with invalid_request (docs/protocol.md, send)."""
    for client_id in ("", "x" * 65):
        frame, _ = decode('{"type":"send","id":"' + client_id + '","to":"u","content":{}}')
        assert isinstance(frame, Send) and frame.id == client_id


@pytest.mark.parametrize("ref", ["true", "false", "1.5", "null", "[1]", '{"a":1}', '"' + "r" * 65 + '"'])
def test_a_ref_that_is_not_a_short_string_or_an_integer_is_absent(ref):
    _, got = decode('{"type":"ping","ref":' + ref + "}")
    assert got is None


def test_ref_is_echoed_in_errors():
    with pytest.raises(ProtocolError) as err:
        decode('{"type":"ack","ref":"r9"}')
    assert err.value.ref == "r9"


def test_presence_subscribe_dedupes_and_limits():
    frame, _ = decode('{"type":"presence_subscribe","user_ids":["a","b","a"]}')
    assert frame == PresenceSubscribe(("a", "b"))
    with pytest.raises(ProtocolError):
        decode('{"type":"presence_subscribe","user_ids":[' + ",".join(['"u"'] * 300) + "]}")


def test_state_table_requires_hello_first():
    st = ConnectionState()
    with pytest.raises(ProtocolError) as err:
        st.check(Ack("c", 1))
    assert err.value.code == "not_authenticated"
    assert st.state is State.CLOSED


def test_state_table_after_hello():
    st = ConnectionState()
    st.check(Hello(1, "t"))
    st.authenticated()
    st.check(Ack("c", 1))
    with pytest.raises(ProtocolError) as err:
        st.check(Hello(1, "t"))
    assert err.value.code == "already_authenticated"
    assert st.state is State.READY
