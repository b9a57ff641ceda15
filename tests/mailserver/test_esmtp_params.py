"""MAIL and RCPT parameters read as Postfix's smtpd reads them (the replies themselves are
compared with Debian's Postfix in test_postfix_parity.py)."""
from __future__ import annotations

import pytest

from labctl.mailserver.esmtp_params import (ParameterError, RcptParams, mail_params, notify_words, rcpt_params,
                                             xtext_decoded)


def test_thunderbirds_parameters_and_a_dsn_request():
    params = mail_params("BODY=8BITMIME SIZE=3000 RET=hdrs ENVID=QQ+2B1".split(), 10240000)
    assert (params.ret, params.envid) == ("HDRS", "QQ+2B1")
    rcpt = rcpt_params(["NOTIFY=success,Failure", "ORCPT=rfc822;alumnoimap+40redes"])
    assert rcpt.notify == ["SUCCESS", "FAILURE"] and rcpt.orcpt == "rfc822;alumnoimap+40redes"
    assert rcpt_params([]) == RcptParams(None, None)


@pytest.mark.parametrize("words, reply", [
    (["BODY=BINARYMIME"], "555 5.5.4 Unsupported option: BODY=BINARYMIME"),
    (["SIZE=-1"], "501 5.5.4 Bad message size syntax"),
    (["SIZE=99999999", "FOO"], "555 5.5.4 Unsupported option: FOO"),  # the words first, then the size
    (["SIZE=99999999"], "552 5.3.4 Message size exceeds fixed limit"),
    (["RET=HDRS", "RET=HDRS"], "501 5.5.4 Bad RET parameter syntax"),
    (["ENVID=+4"], "501 5.5.4 Bad ENVID parameter syntax"),
    (["ENVID=+0A"], "501 5.5.4 Bad ENVID parameter syntax"),  # decodes to a line break
])
def test_mail_refusals(words, reply):
    with pytest.raises(ParameterError) as refused:
        mail_params(words, 10240000)
    assert str(refused.value) == reply


def test_rcpt_refusals_and_xtext():
    for words in (["NOTIFY=NEVER,DELAY"], ["NOTIFY=,"], ["NOTIFY=SUCCESS", "NOTIFY=DELAY"]):
        with pytest.raises(ParameterError, match="Bad NOTIFY parameter syntax"):
            rcpt_params(words)
    with pytest.raises(ParameterError, match="Unsupported option: NOTIFY$"):
        rcpt_params(["NOTIFY"])
    assert notify_words("never,NEVER") == ["NEVER"]
    assert xtext_decoded("a+2Bb=c") == "a+b=c" and xtext_decoded("a+2") is None
