"""Our MTA as an SMTP client, against Debian's Postfix 3.7's smtp(8) (bench/postfix): what each
sends to the next server for the same message (exercise 7: students read the MTA-to-MTA dialogue
in their captures): the EHLO name, MAIL's parameters (BODY= only as the client declared it),
RCPT, DATA and QUIT.

Both pass the message to a recording SmtpSink; Postfix (its relayhost) at the gateway of a network
this test creates, ours on loopback, found by MX. Only SIZE='s value differs by design (Postfix
counts the Received: field it adds) and is masked.
"""
from __future__ import annotations

import re

import pytest

from .conftest import RunningServer, make_config, postfix_container, wait_for
from .test_durability import free_port
from .test_postfix_peer import GATEWAY, SUBNET
from .test_relay import SINK, SmtpSink, send_to_sink

pytestmark = pytest.mark.docker

# (MAIL FROM's parameters as the client sent them, the content)
CASES = {
    "nc: no BODY, 7-bit text": ("", b"Subject: a mano\r\n\r\nhola\r\n"),
    "Thunderbird: BODY=8BITMIME, 7-bit text": (" BODY=8BITMIME", b"Subject: tb\r\n\r\nhola\r\n"),
    "BODY=7BIT": (" BODY=7BIT", b"Subject: siete\r\n\r\nhola\r\n"),
    "no BODY, 8-bit text": ("", "Subject: acentos\r\n\r\nañoranza\r\n".encode()),
}


def commands_before_data(sink: SmtpSink) -> list[str]:
    head = bytes(sink.received).partition(b"DATA\r\n")[0].decode()
    return [re.sub(r" SIZE=\d+", " SIZE=<n>", line) for line in head.split("\r\n")]


@pytest.fixture(scope="module")
def sent_by_postfix(engine, test_label):
    import docker.types

    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=SUBNET, gateway=GATEWAY)])
    network = engine.networks.create("labctl-test-postfix-client", driver="bridge", ipam=ipam,
                                     labels={test_label: "postfix-client"})
    port = free_port()
    setup = f"postconf -e 'relayhost = [{GATEWAY}]:{port}' 'smtputf8_enable = no'"
    try:
        with postfix_container(engine, {test_label: "postfix-client"}, setup, network=network.name) as (_, smtp_port):
            sent = {}
            for case, (params, content) in CASES.items():
                sink = SmtpSink(GATEWAY, port)
                send_to_sink(smtp_port, content, params=params, login=False)
                assert sink.done.wait(30)
                sink.close()
                sent[case] = commands_before_data(sink)
            return sent
    finally:
        network.remove()


@pytest.fixture(scope="module")
def sent_by_us(tmp_path_factory):
    from .conftest import DnsStub

    dns = DnsStub()
    dns.set(SINK, "MX", ["10 mx.sink.example."])
    dns.set("mx.sink.example", "A", ["127.0.0.1"])
    port = free_port()
    config = make_config(tmp_path_factory.mktemp("client"), resolver_port=dns.port, relay_port=port)
    sent = {}
    try:
        with RunningServer(config) as ours:
            for case, (params, content) in CASES.items():
                sink = SmtpSink("127.0.0.1", port)
                send_to_sink(ours.submission_port, content, params=params)
                assert sink.done.wait(30)
                sink.close()
                wait_for(lambda: not ours.service.worker.messages)
                sent[case] = commands_before_data(sink)
    finally:
        dns.close()
    return sent


@pytest.mark.parametrize("case", CASES)
def test_what_our_mta_sends_on_is_what_postfix_sends(sent_by_postfix, sent_by_us, case):
    assert sent_by_us[case] == sent_by_postfix[case]
