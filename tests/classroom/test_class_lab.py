"""A class of three on the real engine: one student did exercise 4, one half of it,
one nothing. Graded right; each lab takes only its own student's passwords; a reset
clears one student's evidence and no one else's; the instructor's page in a browser."""
from __future__ import annotations

import csv
import imaplib
import json
import poplib
import smtplib
import time
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Network

import pytest

from exercise4 import download_over_pop, send_to_pop
from classcli import class_up, cli
from webmail_browser import LAUNCH_ARGS, chromium_binary
from labctl.paths import captures_dir, lab_state_dir

CLASS = "t11"
POOL = "10.130.0.0/22"
ROSTER = "id,name,email\ndone,Ana Díaz,ana@alumnos.example\npartial,Beto Paz,beto@alumnos.example\nuntouched,Caro Sosa,caro@alumnos.example\n"
DEADLINE = 15.0
# Dovecot answers a failed login after a delay that grows with each failure (up to 15 s).
LOGIN_TIMEOUT = 30


@pytest.fixture(scope="module")
def klass(engine, tmp_path_factory):
    yield from class_up(tmp_path_factory.mktemp("roster"), CLASS, ROSTER, "--pool", POOL, "--parallel", "3")


def mail_ip(student) -> str:
    return str(IPv4Network(student.subnet).network_address + 90)


def graded(tmp_path) -> dict[str, dict]:
    cli("class", "grade", "--name", CLASS, "--out", str(tmp_path))
    with (tmp_path / "gradebook.csv").open(encoding="utf-8-sig") as rows:
        return {row["id"]: row for row in csv.DictReader(rows)}


def eventually_graded(tmp_path, student_id: str, passed: str) -> dict[str, dict]:
    """Delivery and the capture are asynchronous: grade until the student's count shows."""
    deadline = time.monotonic() + DEADLINE
    while True:
        book = graded(tmp_path)
        if book[student_id]["passed"] == passed or time.monotonic() > deadline:
            return book
        time.sleep(0.5)


def pop_accepts(student, password: str) -> bool:
    pop = poplib.POP3(mail_ip(student), 110, timeout=LOGIN_TIMEOUT)
    try:
        pop.user("alumnopop")
        pop.pass_(password)
        return True
    except poplib.error_proto:
        return False
    finally:
        pop.quit()


def imap_accepts(student, password: str) -> bool:
    with imaplib.IMAP4(mail_ip(student), 143, timeout=LOGIN_TIMEOUT) as imap:
        try:
            imap.login("alumnoimap", password)
            return True
        except imaplib.IMAP4.error:
            return False


def msa_accepts(student, password: str) -> bool:
    with smtplib.SMTP(mail_ip(student), 587, timeout=LOGIN_TIMEOUT) as msa:
        try:
            msa.login("alumnopop", password)
            return True
        except smtplib.SMTPAuthenticationError:
            return False


def test_every_student_has_an_own_subnet_and_passwords(klass):
    subnets = [IPv4Network(s.subnet) for s in klass.students]
    assert len(set(subnets)) == 3 and all(n.subnet_of(IPv4Network(POOL)) for n in subnets)
    pop_passwords = {s.params["alumnopop_password"] for s in klass.students}
    imap_passwords = {s.params["alumnoimap_password"] for s in klass.students}
    assert len(pop_passwords) == 3 and len(imap_passwords) == 3 and "alumnopoppass" not in pop_passwords


def logins(lab_owner, other) -> tuple[bool, ...]:
    return (pop_accepts(lab_owner, other.params["alumnopop_password"]),
            imap_accepts(lab_owner, other.params["alumnoimap_password"]),
            msa_accepts(lab_owner, other.params["alumnopop_password"]))


def test_each_lab_accepts_only_its_own_students_passwords(klass):
    """Dovecot (POP3, IMAP) and the MSA take the lab's own student's passwords and not
    the next student's. Dovecot delays each failed login from one address more than the
    last, so the labs are tried side by side."""
    students = klass.students
    pairs = [(owner, students[(n + 1) % len(students)]) for n, owner in enumerate(students)]
    with ThreadPoolExecutor(len(pairs)) as pool:
        own = list(pool.map(lambda pair: logins(pair[0], pair[0]), pairs))
        others = list(pool.map(lambda pair: logins(*pair), pairs))
    assert own == [(True, True, True)] * 3
    assert others == [(False, False, False)] * 3


def test_class_is_graded_right(klass, tmp_path):
    done, partial, untouched = (klass.student(i) for i in ("done", "partial", "untouched"))
    before = graded(tmp_path)
    assert {i: (r["grade"], r["passed"], r["total"]) for i, r in before.items()} == {
        "done": ("0", "0", "2"), "partial": ("0", "0", "2"), "untouched": ("0", "0", "2")}
    send_to_pop(mail_ip(done))
    download_over_pop(mail_ip(done), done.params["alumnopop_password"])
    send_to_pop(mail_ip(partial))  # the mail arrives, but the student never downloads it
    eventually_graded(tmp_path, "done", "2")
    book = eventually_graded(tmp_path, "partial", "1")
    assert {i: (r["grade"], r["passed"], r["total"]) for i, r in book.items()} == {
        "done": ("100", "2", "2"), "partial": ("50", "1", "2"), "untouched": ("0", "0", "2")}
    report = json.loads((tmp_path / "partial.json").read_text(encoding="utf-8"))
    assert report["student"] == "partial" and [c["status"] for c in report["checks"]] == ["pass", "fail"]
    # The hint names the student's own password, not the course's.
    assert f"contraseña {partial.params['alumnopop_password']}" in (tmp_path / "partial.xml").read_text(encoding="utf-8")
    assert (tmp_path / "untouched.xml").read_text(encoding="utf-8").count("<failure") == 2
    assert (tmp_path / "done.xml").read_text(encoding="utf-8").count("<failure") == 0
    status = {row["id"]: row for row in json.loads(cli("class", "status", "--name", CLASS, "--json"))["students"]}
    assert status["done"]["name"] == "Ana Díaz" and status["done"]["instance"] == "t11-done"
    assert {i: (r["running"], r["containers"], r["exercise"], r["passed"]) for i, r in status.items()} == {
        "done": (7, 7, "4", 2), "partial": (7, 7, "4", 1), "untouched": (7, 7, "4", 0)}  # 5 services, capture, ssh


def test_checks_follow_the_students_values(klass, tmp_path):
    """A download with the course's default password is no POP3 session of this lab:
    the untouched student's lab refuses it, and the check still fails."""
    untouched = klass.student("untouched")
    send_to_pop(mail_ip(untouched))
    assert not pop_accepts(untouched, "alumnopoppass")
    book = eventually_graded(tmp_path, "untouched", "1")
    assert (book["untouched"]["passed"], book["untouched"]["total"]) == ("1", "2")


def lab_objects(engine, instance: str) -> tuple[dict[str, str], list[str]]:
    """The lab's container id per service and its network ids."""
    label = {"label": f"labctl.lab={instance}"}
    running = {c.labels["labctl.service"]: c.id for c in engine.containers.list(filters=label)}
    return running, [n.id for n in engine.networks.list(filters=label)]


def test_reset_clears_one_students_evidence_and_no_one_elses(engine, klass, tmp_path):
    done, partial = klass.student("done"), klass.student("partial")
    book = eventually_graded(tmp_path, "done", "2")
    assert book["done"]["passed"] == "2" and book["partial"]["passed"] == "1"
    partial_captures = {p.name: p.stat().st_size for p in captures_dir(partial.instance).glob("*.pcap*")}
    assert partial_captures
    containers, networks = lab_objects(engine, done.instance)
    client = engine.containers.get(containers["client"])
    assert client.exec_run(["touch", "/home/alumno/rastro"]).exit_code == 0
    cli("class", "reset", "done", "--name", CLASS)
    # Every container that holds something of the attempt is new (the student's files in the
    # client went with it); the SSH forwarder (it holds nothing) and the network stay.
    fresh, same_networks = lab_objects(engine, done.instance)
    assert set(fresh) == set(containers) and same_networks == networks
    assert {s for s in fresh if fresh[s] == containers[s]} == {"ssh"}
    assert engine.containers.get(fresh["client"]).exec_run(["test", "-e", "/home/alumno/rastro"]).exit_code == 1
    # No capture, archive, mail or report of the previous attempt is left...
    assert not (captures_dir(done.instance) / "previous").exists()
    assert not (tmp_path / "done.json").exists() and not (tmp_path / "done.xml").exists()
    assert (tmp_path / "partial.json").exists()
    # ... nor the old grade: until graded again the gradebook says reset, with no grade.
    with (tmp_path / "gradebook.csv").open(encoding="utf-8-sig") as rows:
        book = {row["id"]: row for row in csv.DictReader(rows)}
    assert (book["done"]["grade"], book["done"]["passed"]) == ("", "")
    assert book["done"]["note"].startswith("reset at ") and "not graded since; was 100 (2/2)" in book["done"]["note"]
    assert (book["partial"]["grade"], book["partial"]["passed"]) == ("50", "1")
    # ... the same passwords still open the fresh lab, which grades as untouched ...
    assert pop_accepts(done, done.params["alumnopop_password"])
    after = graded(tmp_path)
    assert (after["done"]["passed"], after["partial"]["passed"]) == ("0", "1")
    # ... and the other students' evidence is where it was.
    now = {p.name: p.stat().st_size for p in captures_dir(partial.instance).glob("*.pcap*")}
    assert set(partial_captures) <= set(now) and all(now[n] >= size for n, size in partial_captures.items())
    assert lab_state_dir(partial.instance).is_dir()


def test_instructor_page_in_a_browser(klass, tmp_path):
    """The page of `class grade`, in a real browser: a row per student, a colour per
    status, a failure's detail hidden until clicked, and when it was graded."""
    from playwright.sync_api import sync_playwright

    eventually_graded(tmp_path, "partial", "1")
    page_file = tmp_path / "index.html"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_binary(), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 700})
            page.goto(page_file.as_uri())
            assert page.locator("#grades tbody tr").count() == 3
            assert page.locator("#graded-at").get_attribute("datetime").endswith("Z")
            partial = page.locator('tr[data-student="partial"]')
            passed = partial.locator('td[data-check="mail-to-pop"]')
            failed = partial.locator('td[data-check="pop3-dialogue"]')
            colour = "el => getComputedStyle(el).backgroundColor"
            assert passed.evaluate(colour) == "rgb(200, 239, 200)"
            assert failed.evaluate(colour) == "rgb(246, 196, 196)"
            detail = failed.locator(".detail")
            assert not detail.is_visible()
            failed.locator("summary").click()
            assert detail.is_visible()
            assert "pista:" in detail.inner_text()
            assert klass.student("partial").params["alumnopop_password"] in detail.inner_text()
            grades = {sid: page.locator(f'tr[data-student="{sid}"] td.grade').inner_text().split("\n")[0] for sid in ("done", "partial", "untouched")}
            assert grades == {"done": "0 (0/2)", "partial": "50 (1/2)", "untouched": "50 (1/2)"}  # done was reset
            shot = tmp_path / "class-report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    print(f"screenshot of the instructor's page: {shot}")
    assert shot.stat().st_size > 10_000
