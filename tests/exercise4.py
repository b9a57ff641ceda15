"""Exercise 4 done from the host, as a student's Thunderbird would: a mail to
alumnopop, then its download over POP3 (CAPA, USER/PASS, STAT, LIST, UIDL, RETR, QUIT)."""
from __future__ import annotations

import poplib
import smtplib
import time

DOMAIN = "redes.unlp.edu.ar"
DELIVERY_DEADLINE = 10.0


def send_to_pop(mail_ip: str) -> None:
    with smtplib.SMTP(mail_ip, 25, timeout=10) as smtp:
        smtp.sendmail(f"alumnoimap@{DOMAIN}", [f"alumnopop@{DOMAIN}"], b"Subject: ejercicio 4\r\n\r\nhola\r\n")


def download_over_pop(mail_ip: str, password: str = "alumnopoppass") -> None:
    deadline = time.monotonic() + DELIVERY_DEADLINE
    while True:
        pop = poplib.POP3(mail_ip, 110, timeout=10)
        pop.capa()
        pop.user("alumnopop")
        pop.pass_(password)
        count, _ = pop.stat()
        if count or time.monotonic() > deadline:
            break
        pop.quit()
        time.sleep(0.3)
    pop.list()
    pop.uidl()
    pop.retr(1)
    pop.quit()
