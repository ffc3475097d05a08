"""The console in a real browser, as the people would use it, against `kontakt dev` with the
demo data: the committee decides, the coordinator assigns (and is refused over capacity), the
contact person registers hours on a phone through a connection that is cut mid-submit and
submits the timesheet, the coordinator approves it, finance sees the spent figure move in the
plot, the CSV and the XLSX, the counsellor adjusts a grant through a follow-up; another
municipality sees none of it; forms without their token and stale sessions are refused; every
screen is scanned by axe-core and photographed.

Run by tests/console/run (which starts the suite); the tests run in file order and build on
each other, like a working day.
"""

import csv
import io
import os
import socket
import threading
import time
import urllib.error
import urllib.request

import openpyxl
import pytest
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from selenium.webdriver.support.ui import WebDriverWait as _Wait

from browser import DESKTOP, PHONE, chromium

BASE = os.environ["KONTAKT_CONSOLE_URL"].rstrip("/")
AXE = open(os.environ["AXE_JS"], encoding="utf-8").read()
SHOTS = os.environ.get("SCREENSHOTS", "target/console-screenshots")

def WebDriverWait(driver, seconds):  # noqa: N802 - selenium's name, with page loads tolerated
    """Waits, tolerating the page being replaced under the condition (a navigation)."""
    return _Wait(
        driver, seconds, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)
    )


# What the tests learn and pass on, in order.
day = {}
# Every serious or critical accessibility violation found, by screen.
violations = {}


@pytest.fixture(scope="module")
def desk():
    driver = chromium(DESKTOP)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def phone():
    driver = chromium(PHONE)
    yield driver
    driver.quit()


def sign_in(driver, persona, base=BASE):
    driver.delete_all_cookies()
    driver.get(base + "/log-ind")
    driver.find_element(By.CSS_SELECTOR, f'button[value="{persona}"]').click()
    WebDriverWait(driver, 20).until(lambda d: "/log-ind" not in d.current_url)


def scan(driver, screen):
    """axe-core on the page as it is; keeps serious and critical violations."""
    driver.execute_script(AXE)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));"
    )
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    if bad:
        violations[screen] = bad


def shoot(driver, screen):
    """A screenshot of the whole page, for review."""
    width = driver.get_window_size()["width"]
    original = driver.get_window_size()["height"]
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(max(height, original), 6000))
    driver.save_screenshot(os.path.join(SHOTS, f"{screen}.png"))
    driver.set_window_size(width, original)


def visit(driver, path, screen, base=BASE):
    """Opens a screen, scans it and photographs it."""
    driver.get(base + path if path.startswith("/") else path)
    seen(driver, screen)


def seen(driver, screen):
    scan(driver, screen)
    shoot(driver, screen)


def css(driver, selector):
    return driver.find_elements(By.CSS_SELECTOR, selector)


def one(driver, selector):
    return driver.find_element(By.CSS_SELECTOR, selector)


def text_of(driver, selector):
    """The text of the first element matching `selector`, read in one step, or "" while the page
    is being replaced (an element found on the old page may be gone by the time its text is read)."""
    try:
        return driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", selector
        )
    except WebDriverException:
        return ""


def eventually(check, what, seconds=30, driver=None):
    """Retries `check` (reloading the page in between) until it is truthy."""
    deadline = time.time() + seconds
    while True:
        try:
            value = check()
        except (StaleElementReferenceException, NoSuchElementException):
            value = None
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.5)
        if driver is not None:
            driver.refresh()


def fetch(driver, path):
    """A GET with the browser's own session cookie (a download, as the browser makes it)."""
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())
    request = urllib.request.Request(BASE + path, headers={"Cookie": cookies})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.headers, response.read()


def fetch_status(driver, path):
    """As `fetch`, also when the answer is an error page."""
    try:
        return fetch(driver, path)
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def set_value(driver, selector, value):
    element = one(driver, selector)
    driver.execute_script("arguments[0].value = arguments[1];", element, value)


def booked(driver, person):
    return int(one(driver, f'section[data-person="{person}"] .capacity').get_attribute("data-booked"))


JONAS = "serviceUnits/ishoejgaard/contactPersons/jonas-berg"
LEYLA = "serviceUnits/ishoejgaard/contactPersons/leyla-hassan"


def test_the_sign_in_page_lists_the_demo_personas_and_a_stale_session_goes_back_to_it(desk):
    visit(desk, "/log-ind", "01-sign-in")
    labels = [b.text for b in css(desk, ".personas button")]
    assert any("Koordinator" in label for label in labels), labels
    assert any("Anna Holm" in label for label in labels), labels
    assert len(labels) >= 10
    # A page without a session asks for sign-in and comes back afterwards.
    desk.delete_all_cookies()
    desk.get(BASE + "/kontaktpersoner")
    assert "/log-ind?tilbage=/kontaktpersoner" in desk.current_url
    one(desk, 'button[value="demo-coordinator"]').click()
    WebDriverWait(desk, 20).until(lambda d: d.current_url.endswith("/kontaktpersoner"))
    # A cookie that is not a session of this console (tampered, or sealed by a key since
    # rotated) is no session: back to sign-in, and the cookie is dropped. The real session
    # cookie is HttpOnly, and a browser may refuse to let WebDriver overwrite it, so it goes
    # first and the tampered one takes its place.
    desk.delete_cookie("kontakt_session")
    desk.add_cookie(
        {"name": "kontakt_session", "value": "bm90LWEtc2Vzc2lvbg", "path": "/", "httpOnly": True}
    )
    assert {c["value"] for c in desk.get_cookies() if c["name"] == "kontakt_session"} == {
        "bm90LWEtc2Vzc2lvbg"
    }
    desk.get(BASE + "/koordinator")
    assert "/log-ind" in desk.current_url
    assert "kontakt_session" not in {c["name"] for c in desk.get_cookies()}


def test_the_committee_decides_a_referral_on_its_agenda(desk):
    sign_in(desk, "demo-committee")
    visit(desk, "/udvalg", "02-committee-agenda")
    rows = css(desk, 'tr[data-referral^="municipalities/183/"]')
    assert rows, "Ishøj's submitted referral is on the agenda"
    referral = rows[0].get_attribute("data-referral")
    rows[0].find_element(By.CSS_SELECTOR, "a.button").click()
    seen(desk, "03-committee-decide")
    one(desk, "#outcome-approve").click()
    set_value(desk, "#minutes_per_week", "480")
    one(desk, "#justification").send_keys("Sara har brug for to faste eftermiddage om ugen.")
    # Without the committee's check of the plan's goals the approval is refused (R-RV-8).
    one(desk, "main form button[type=submit]").click()
    WebDriverWait(desk, 20).until(lambda d: css(d, ".problem"))
    assert "R-RV-8" in one(desk, ".problem").text or "realistiske" in one(desk, "main").text
    one(desk, "#outcome-approve").click()
    set_value(desk, "#minutes_per_week", "480")
    one(desk, "#justification").send_keys("Sara har brug for to faste eftermiddage om ugen.")
    one(desk, "#goals_realistic").click()
    one(desk, "main form button[type=submit]").click()
    WebDriverWait(desk, 20).until(lambda d: d.current_url.endswith("/udvalg") or css(d, ".problem"))
    assert not css(desk, ".problem"), one(desk, ".problem").text
    assert not css(desk, f'tr[data-referral="{referral}"]'), "decided, off the agenda"
    day["referral"] = referral


def test_the_coordinator_is_refused_over_capacity_in_plain_words_and_assigns_within_it(desk):
    sign_in(desk, "demo-coordinator")
    visit(desk, "/kontaktpersoner", "04-coordinator-people")
    before = booked(desk, JONAS)
    visit(desk, "/koordinator", "05-coordinator-queue")

    # The grant the committee made reaches matching as a request for 8 hours a week.
    def request_of_eight_hours():
        for row in css(desk, "tr[data-request]"):
            if "8 t/uge" in row.text and row.get_attribute("data-request").startswith("municipalities/183/"):
                return row
        return None

    row = eventually(request_of_eight_hours, "the new request in the queue", driver=desk)
    day["request"] = row.get_attribute("data-request")
    row.find_element(By.CSS_SELECTOR, "a").click()
    seen(desk, "06-coordinator-request")
    assert css(desk, "li[data-candidate]"), "ranked candidates"

    # Leyla has 6 hours free: asking her for 8 is refused, and the page says why.
    one(desk, "#anden summary").click()
    other = one(desk, "#contact_person").find_element(By.XPATH, "./ancestor::form")
    other.find_element(By.CSS_SELECTOR, "#contact_person").send_keys(LEYLA)
    set_value(desk, "#minutes_per_week", "480")
    other.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    problem = WebDriverWait(desk, 20).until(lambda d: css(d, ".problem"))[0]
    seen(desk, "07-coordinator-refused")
    assert "R-MP-4" in problem.text, problem.text
    assert "ikke timer nok ledige" in problem.text, problem.text

    # Jonas can: assigned, and his capacity bar shows the 8 hours.
    card = one(desk, f'li[data-candidate="{JONAS}"]')
    card.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(desk, 20).until(lambda d: "/kontaktpersoner" in d.current_url)
    seen(desk, "08-coordinator-assigned")
    assert "Tilknyttet" in one(desk, ".notice").text
    assert booked(desk, JONAS) == before + 480


def test_the_coordinator_buys_from_a_provider_offer_then_order_then_assigns_its_person(desk):
    sign_in(desk, "demo-coordinator")
    desk.get(BASE + "/koordinator")
    rows = [r for r in css(desk, "tr[data-request]") if "Indkøb i gang" in r.text]
    assert rows, "Vallensbæk's purchase is in the queue"
    rows[0].find_element(By.CSS_SELECTOR, "a").click()
    seen(desk, "09-coordinator-procurement-requested")
    assert "Forespurgt" in one(desk, "[data-procurement]").text
    # A provider's person cannot be assigned before the order (R-MP-2).
    karim = "serviceUnits/ishoejgaard/contactPersons/karim-nasser"
    assert not css(desk, f'li[data-candidate="{karim}"] button')
    one(desk, "#offered_hourly_price").send_keys("450,00")
    one(desk, '[data-procurement] button[type=submit]').click()
    WebDriverWait(desk, 20).until(lambda d: "Tilbud modtaget" in text_of(d, "[data-procurement]"))
    assert "450,00 kr." in one(desk, "[data-procurement]").text
    one(desk, '[data-procurement] button[type=submit]').click()
    WebDriverWait(desk, 20).until(lambda d: "Bestilt" in text_of(d, "[data-procurement]"))
    seen(desk, "10-coordinator-procurement-ordered")
    one(desk, f'li[data-candidate="{karim}"] button[type=submit]').click()
    WebDriverWait(desk, 20).until(lambda d: "/kontaktpersoner" in d.current_url or css(d, ".problem"))
    assert not css(desk, ".problem"), one(desk, ".problem").text
    assert "Karim Nasser" in one(desk, ".notice").text


class CuttingProxy:
    """A loopback TCP proxy in front of the console that can swallow the answer to the next
    POST whose path contains `cut`: the request reaches the console (and is stored), then the
    connection is closed before the browser sees a byte of the response."""

    def __init__(self, target):
        host, port = target.replace("http://", "").split(":")
        self.target = (host, int(port))
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.cut = None
        self.cuts = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.getsockname()[1]}"

    def accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            state = {"drop": False}
            threading.Thread(target=self.up, args=(client, upstream, state), daemon=True).start()
            threading.Thread(target=self.down, args=(upstream, client, state), daemon=True).start()

    def up(self, client, upstream, state):
        try:
            while data := client.recv(65536):
                with self.lock:
                    if self.cut and data.startswith(b"POST ") and self.cut.encode() in data.split(b"\r\n", 1)[0]:
                        state["drop"] = True
                        self.cut = None
                        self.cuts += 1
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            close(upstream)

    def down(self, upstream, client, state):
        try:
            while data := upstream.recv(65536):
                if state["drop"]:
                    # The console answered; the browser never hears it.
                    client.shutdown(socket.SHUT_RDWR)
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            close(client)
            close(upstream)

    def close(self):
        close(self.server)


def close(sock):
    try:
        sock.close()
    except OSError:
        pass


def test_finance_notes_the_budget_before_the_hours_come_in(desk):
    frame = "ishoj-vallensbaek"
    sign_in(desk, "demo-finance")
    visit(desk, "/oekonomi", "11-finance-frames")
    one(desk, f'a[href="/oekonomi/{frame}"]').click()
    seen(desk, "12-finance-budget-before")
    day["budget_before"] = (spent(desk, "183"), csv_spent(desk, frame, "183"), xlsx_spent(desk, frame, "183"))


def test_the_contact_person_registers_hours_on_a_phone_through_a_cut_connection_and_submits(phone):
    proxy = CuttingProxy(BASE)
    try:
        sign_in(phone, "jonas-berg", base=proxy.url)
        visit(phone, "/tid", "13-phone-my-arrangements", base=proxy.url)
        cards = [c for c in css(phone, "li[data-assignment]") if "8 t/uge" in c.text]
        assert cards, "the new arrangement is among Jonas's"
        cards[0].find_element(By.CSS_SELECTOR, "a.button").click()
        seen(phone, "14-phone-register")
        path = phone.current_url.replace(proxy.url, "")
        day["assignment_path"] = path.split("?")[0]
        # 10 hours today: over the 8 granted, so the week shows the overrun.
        set_value(phone, "#minutes", "600")
        note = f"Fodbold og lektier {time.time_ns()}"
        one(phone, "#note").send_keys(note)
        # The connection is cut after the console stored the entry, before the answer arrives;
        # the page sends it again with the same request id.
        proxy.cut = "/registrer"
        one(phone, "form[data-retry] button[type=submit]").click()
        WebDriverWait(phone, 40).until(lambda d: "gemt=" in d.current_url)
        assert proxy.cuts == 1, "the submit went through the cut"
        seen(phone, "15-phone-registered-overrun")
        stored = [e for e in css(phone, "li[data-entry]") if note in e.text]
        assert len(stored) == 1, [e.text for e in css(phone, "li[data-entry]")]
        assert "overskridelse" in stored[0].text
        assert "over de bevilgede timer" in one(phone, "#overskridelse").text
        # The month's timesheet.
        visit(phone, "/tid", "16-phone-timesheets", base=proxy.url)
        month = time.strftime("%Y-%m")
        one(phone, f'div[data-timesheet="{month}"] form button').click()
        WebDriverWait(phone, 20).until(
            lambda d: "Indsendt" in text_of(d, f'div[data-timesheet="{month}"]')
        )
        seen(phone, "17-phone-submitted")
    finally:
        proxy.close()


def spent(driver, municipality):
    return int(one(driver, f'svg g[data-municipality="{municipality}"]').get_attribute("data-spent-ore"))


def csv_spent(driver, frame, municipality):
    status, headers, body = fetch(driver, f"/oekonomi/{frame}/budget.csv")
    assert status == 200 and body.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM"
    assert "text/csv" in headers["Content-Type"]
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    for row in rows:
        if len(row) > 4 and row[1] == municipality:
            return row[4]
    raise AssertionError(f"no CSV row for {municipality}: {rows}")


def xlsx_spent(driver, frame, municipality):
    status, _, body = fetch(driver, f"/oekonomi/{frame}/budget.xlsx")
    assert status == 200 and body[:2] == b"PK"
    sheet = openpyxl.load_workbook(io.BytesIO(body))["Kommuner"]
    for row in sheet.iter_rows(values_only=True):
        if len(row) > 4 and str(row[1]) == municipality:
            return float(row[4])
    raise AssertionError(f"no XLSX row for {municipality}")


def test_the_coordinator_sends_the_timesheet_back_with_a_reason_and_the_contact_person_resubmits(desk, phone):
    sign_in(desk, "demo-coordinator")
    desk.get(BASE + "/timesedler")
    rows = [r for r in css(desk, "tr[data-timesheet]") if "Jonas" in r.text]
    assert rows, "Jonas's submitted timesheet waits for approval"
    name = rows[0].get_attribute("data-timesheet")
    rows[0].find_element(By.CSS_SELECTOR, "details summary").click()
    rows[0].find_element(By.CSS_SELECTOR, 'input[name="reason"]').send_keys("Fredag mangler")
    rows[0].find_element(By.CSS_SELECTOR, 'form[action="/timesedler/retur"] button').click()
    WebDriverWait(desk, 20).until(lambda d: not css(d, f'tr[data-timesheet="{name}"]'))
    sign_in(phone, "jonas-berg")
    visit(phone, "/tid", "18-phone-timesheet-returned")
    month = time.strftime("%Y-%m")
    card = one(phone, f'div[data-timesheet="{month}"]')
    assert "Fredag mangler" in card.text, card.text
    card.find_element(By.CSS_SELECTOR, "form button").click()
    WebDriverWait(phone, 20).until(lambda d: "Indsendt" in text_of(d, f'div[data-timesheet="{month}"]'))


def test_the_coordinator_approves_and_finance_sees_the_spent_figure_move(desk):
    frame = "ishoj-vallensbaek"
    before = day["budget_before"]
    sign_in(desk, "demo-coordinator")
    visit(desk, "/timesedler", "19-coordinator-timesheets")
    rows = [r for r in css(desk, "tr[data-timesheet]") if "Jonas" in r.text]
    assert rows, "Jonas's submitted timesheet waits for approval"
    name = rows[0].get_attribute("data-timesheet")
    rows[0].find_element(By.CSS_SELECTOR, 'form[action="/timesedler/godkend"] button').click()
    WebDriverWait(desk, 20).until(lambda d: not css(d, f'tr[data-timesheet="{name}"]'))

    sign_in(desk, "demo-finance")
    desk.get(BASE + f"/oekonomi/{frame}")
    eventually(lambda: spent(desk, "183") > before[0], "the plot's spent figure grew", driver=desk)
    seen(desk, "20-finance-budget-after")
    after_csv = csv_spent(desk, frame, "183")
    after_xlsx = xlsx_spent(desk, frame, "183")
    as_number = lambda text: float(text.replace(",", "."))  # noqa: E731
    assert "," in after_csv and "." not in after_csv, "decimal comma, no thousands points"
    assert as_number(after_csv) > as_number(before[1])
    assert after_xlsx > before[2]
    assert abs(after_xlsx - spent(desk, "183") / 100) < 0.005


def test_the_yearly_evaluation_adds_up_downloads_as_xlsx_prints_and_records_the_decision(desk):
    frame = "ishoj-vallensbaek"
    sign_in(desk, "demo-finance")
    desk.get(BASE + f"/oekonomi/{frame}")
    desk.find_element(By.PARTIAL_LINK_TEXT, "Årsevaluering").click()
    WebDriverWait(desk, 20).until(lambda d: "/evaluering/" in d.current_url)
    seen(desk, "40-finance-evaluation")
    year = desk.current_url.rstrip("/").split("/")[-1]
    rows = {r.get_attribute("data-municipality"): int(r.get_attribute("data-spent-ore"))
            for r in css(desk, "tr[data-municipality]")}
    assert set(rows) == {"183", "187"}, rows
    total = int(one(desk, "[data-evaluation-spent]").get_attribute("data-evaluation-spent"))
    # R-BF-3: the coordinator function is split, so the municipalities add up to the frame.
    assert sum(rows.values()) == total, (rows, total)
    assert "Koordinatorfunktion" in text_of(desk, "main")
    # Unmet demand is the coordinator's to see; finance is told whom to ask.
    assert not css(desk, "tr[data-unmet]")
    assert "koordinatoren" in text_of(desk, "main")

    status, headers, body = fetch(desk, f"/oekonomi/{frame}/evaluering/{year}/evaluering.xlsx")
    assert status == 200 and body[:2] == b"PK"
    assert f"evaluering-{frame}-{year}.xlsx" in headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(body))
    assert {"Rammen", "Kommuner", "Kategorier", "Måneder", "Detaljer", "Indkøb"} <= set(book.sheetnames), book.sheetnames
    kommuner = {str(r[1]): r for r in book["Kommuner"].iter_rows(values_only=True) if r and r[1]}
    assert abs(float(kommuner["183"][4]) - rows["183"] / 100) < 0.005
    # The detail by municipality, month and category adds up to each municipality's spent.
    detail = [r for r in book["Detaljer"].iter_rows(min_row=5, values_only=True) if r and r[0] == "Ishøj"]
    assert detail and abs(sum(float(r[3]) for r in detail) - rows["183"] / 100) < 0.05, detail

    # Printed (to PDF) it is the document alone: no menu, no buttons, no form.
    desk.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not one(desk, "header.top").is_displayed()
        assert not one(desk, "form[action$='/beslutning']").is_displayed()
        shoot(desk, "41-evaluation-printed")
    finally:
        desk.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

    sign_in(desk, "demo-coordinator")
    assert css(desk, 'header nav a[href="/oekonomi"]'), "the coordinator prepares it with finance"
    desk.get(BASE + f"/oekonomi/{frame}/evaluering/{year}")
    assert css(desk, 'tr[data-unmet="183"]'), "the coordinator sees unmet demand"
    assert not css(desk, '[name="next_amount"]'), "the frame's amount is finance's to set"

    # Finance records the committee's decision with next year's adjusted frame; an amount that
    # is not one is shown at its field, and what was typed is kept.
    sign_in(desk, "demo-finance")
    desk.get(BASE + f"/oekonomi/{frame}/evaluering/{year}")
    summary = "Rammen hæves til 5 mio. kr. fra næste år; flere timer til eksterne køb"
    one(desk, "#summary").send_keys(summary)
    one(desk, '[name="next_amount"]').send_keys("fem millioner")
    one(desk, "form[action$='/beslutning'] button[type=submit]").click()
    WebDriverWait(desk, 20).until(lambda d: css(d, ".problem"))
    assert "Skriv beløbet i kroner" in text_of(desk, ".field.invalid")
    assert one(desk, "#summary").get_attribute("value") == summary, "the summary is kept"
    seen(desk, "42-evaluation-amount-refused")
    amount = one(desk, '[name="next_amount"]')
    amount.clear()
    amount.send_keys("5.000.000")
    one(desk, "form[action$='/beslutning'] button[type=submit]").click()
    WebDriverWait(desk, 20).until(lambda d: "afgjort=ja" in d.current_url or css(d, ".problem"))
    assert summary in text_of(desk, "[data-decision=completed]"), text_of(desk, "main")
    assert one(desk, "[data-next-amount]").get_attribute("data-next-amount") == "500000000"
    seen(desk, "43-evaluation-decided")

    # The frame's own due day and committee, kept by finance (R-FU-5).
    one(desk, "[data-evaluation-settings] + details summary").click()
    due_day = one(desk, "#due_day")
    due_day.clear()
    due_day.send_keys("31")
    Select(one(desk, "#due_month")).select_by_value("10")
    committee = one(desk, "#settings_committee")
    committee.clear()
    committee.send_keys("Økonomiudvalget")
    one(desk, "form[action$='/indstillinger'] button[type=submit]").click()
    WebDriverWait(desk, 20).until(lambda d: "indstillinger=gemt" in d.current_url or css(d, ".problem"))
    settings = text_of(desk, "[data-evaluation-settings]")
    assert "31. oktober" in settings and "Økonomiudvalget" in settings, settings
    seen(desk, "44-evaluation-settings-saved")


def test_the_counsellor_adjusts_a_grant_through_a_follow_up_and_sees_version_two(desk):
    sign_in(desk, "demo-counsellor")
    visit(desk, "/raadgiver", "21-counsellor-cases")
    rows = css(desk, 'tr[data-follow-up^="municipalities/329/"]')
    assert rows, "Ringsted's due follow-ups are the counsellor's"
    rows[0].find_element(By.CSS_SELECTOR, "a.button").click()
    seen(desk, "22-counsellor-follow-up")
    one(desk, "#outcome-adjust").click()
    set_value(desk, "#adjusted_minutes_per_week", "120")
    one(desk, "#summary").send_keys("Trives og går i skole: færre timer.")
    one(desk, "main form button[type=submit]").click()
    WebDriverWait(desk, 20).until(lambda d: "/raadgiver/bevilling/" in d.current_url or css(d, ".problem"))
    assert not css(desk, ".problem"), one(desk, ".problem").text
    eventually(lambda: css(desk, 'tr[data-version="2"][data-minutes="120"]'), "grant version 2", driver=desk)
    seen(desk, "23-counsellor-grant-history")
    day["grant_path"] = desk.current_url.replace(BASE, "").split("?")[0]


def test_the_counsellor_sees_the_deadlines_that_have_come_due_and_marks_one_met(desk):
    sign_in(desk, "demo-counsellor")
    visit(desk, "/raadgiver", "32-counsellor-deadlines")
    rows = css(desk, "tr[data-deadline]")
    assert rows, "a Ringsted grant without a child's plan has its § 91 deadline due"
    name = rows[0].get_attribute("data-deadline")
    assert "Barnets Lov" in rows[0].text, rows[0].text
    rows[0].find_element(By.CSS_SELECTOR, "textarea").send_keys("Barnets plan udarbejdet med familien")
    rows[0].find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(desk, 20).until(lambda d: "frist=afgjort" in d.current_url or css(d, ".problem"))
    assert not css(desk, ".problem"), one(desk, ".problem").text
    assert "Fristen er markeret som afgjort" in one(desk, ".notice").text
    assert not css(desk, f'tr[data-deadline="{name}"]'), "a met deadline leaves the list"


def test_the_counsellor_downloads_the_years_preventive_measures_for_danmarks_statistik(desk):
    sign_in(desk, "demo-counsellor")
    desk.get(BASE + "/raadgiver")
    form = one(desk, 'form[action="/raadgiver/statistik.csv"]')
    code = Select(form.find_element(By.CSS_SELECTOR, "#kommune")).first_selected_option.get_attribute("value")
    year = time.strftime("%Y")
    status, headers, body = fetch(desk, f"/raadgiver/statistik.csv?kommune={code}&fra={year}-01-01&til={year}-12-31")
    assert status == 200 and headers["Content-Type"].startswith("text/csv"), headers
    assert f"forebyggende-foranstaltninger-{code}-{year}-01-01-{year}-12-31.csv" in headers["Content-Disposition"]
    lines = body.decode("utf-8").splitlines()
    assert lines[0].startswith("kommunekode,foranstaltning_id,udsat_barn_cpr,"), lines[:2]
    assert len(lines) > 1 and all(line.startswith(f"{code},") for line in lines[1:]), lines
    # A period of two years is refused in plain words.
    status, _, body = fetch_status(desk, f"/raadgiver/statistik.csv?kommune={code}&fra=2024-01-01&til={year}-12-31")
    assert status == 400 and "366" in body.decode("utf-8"), status


def test_the_counsellor_drafts_a_referral_sees_what_stops_it_and_sends_it(desk):
    sign_in(desk, "demo-counsellor")
    desk.get(BASE + "/raadgiver")
    one(desk, 'a[href="/raadgiver/ny-henvisning"]').click()
    seen(desk, "24-counsellor-new-referral")
    Select(one(desk, "#municipality")).select_by_value("329")
    one(desk, "#cpr").send_keys("150313-4234")
    one(desk, "#child_name").send_keys("Sofie Eksempel")
    one(desk, "#external_id").send_keys(f"RIN-{time.time_ns() % 100000}")
    one(desk, "main form button[type=submit]").click()
    WebDriverWait(desk, 20).until(lambda d: "/raadgiver/henvisning/" in d.current_url)
    assert "150313" not in desk.page_source, "the CPR number is not shown back"
    checklist = one(desk, "main").text
    assert "Det mangler, før henvisningen kan sendes" in checklist
    for rule in ("R-RV-1", "R-RV-2", "R-RV-3"):
        assert rule in checklist, rule
    seen(desk, "25-counsellor-draft-checklist")
    # What the rules ask for, field by field.
    one(desk, "#recipient-child").click()
    one(desk, "#target_groups-psychological_difficulties").click()
    one(desk, "#needs").send_keys("En rolig voksen, der kan lide fodbold")
    set_value(desk, "#requested_minutes_per_week", "180")
    one(desk, "#purpose").send_keys("Trivsel og skolegang")
    set_value(desk, "#expected_duration_months", "12")
    Select(one(desk, "#legal_basis")).select_by_value("legalBases/bl-32-1-3")
    one(desk, "#consent_kind-custody").click()
    set_value(desk, "#consent_date", "2026-11-01")
    one(desk, "#child_view").send_keys("Vil gerne have en at tale med")
    one(desk, "#network_statement").send_keys("Ingen familie i nærheden")
    one(desk, 'form[action$="' + desk.current_url.replace(BASE, "").split("?")[0] + '"] button[type=submit]').click()
    WebDriverWait(desk, 20).until(lambda d: (main := text_of(d, "main")) and "R-RV-2" not in main)
    one(desk, "#kind-child_assessment").click()
    set_value(desk, "#need_known_date", "2026-09-01")
    set_value(desk, "#completion_date", "2026-10-01")
    one(desk, "#conclusion").send_keys("Har brug for en fast voksen")
    one(desk, 'form[action$="/undersoegelse"] button[type=submit]').click()
    WebDriverWait(desk, 20).until(lambda d: "Klar til at sende" in text_of(d, "main"))
    seen(desk, "26-counsellor-draft-ready")
    one(desk, 'form[action$="/send"] button[type=submit]').click()
    WebDriverWait(desk, 20).until(lambda d: "henvisning=sendt" in d.current_url)
    assert "Henvisningen er sendt" in one(desk, ".notice").text


def test_the_auditor_reads_a_persons_access_log(desk):
    sign_in(desk, "demo-auditor")
    visit(desk, "/adgangslog", "27-auditor-form")
    # The child of the grant just adjusted: its person, from the counsellor's grant page.
    sign_in(desk, "demo-counsellor")
    desk.get(BASE + day["grant_path"])
    person = one(desk, "[data-person]").get_attribute("data-person")
    sign_in(desk, "demo-auditor")
    desk.get(BASE + "/adgangslog?person=" + person)
    rows = css(desk, "tr[data-subject]")
    assert any(r.get_attribute("data-subject") == "demo-counsellor" for r in rows), "the counsellor's reads are logged"
    assert any("console:" in r.text for r in rows), "with the screen's purpose"
    seen(desk, "28-auditor-log")
    desk.get(BASE + "/adgangslog?person=" + person + "&hvem=demo-auditor")
    assert all(r.get_attribute("data-subject") == "demo-auditor" for r in css(desk, "tr[data-subject]"))


def test_a_person_of_another_municipality_sees_none_of_it(desk):
    sign_in(desk, "other-coordinator")
    visit(desk, "/koordinator", "29-other-municipality-queue")
    assert not css(desk, 'tr[data-request^="municipalities/183/"]')
    for path in (
        "/koordinator/anmodning/" + "/".join(day["request"].split("/")[1::2]),
        day["assignment_path"],
        day["grant_path"],
    ):
        desk.get(BASE + path)
        assert one(desk, "h1").text in ("Findes ikke", "Du har ikke adgang", "Du er ikke registreret som kontaktperson"), (path, one(desk, "h1").text)
    seen(desk, "30-other-municipality-not-found")


def test_a_form_without_its_token_is_refused_and_nothing_is_stored(desk):
    sign_in(desk, "demo-coordinator")
    desk.get(BASE + "/timesedler")
    # Another site's form would post without this session's token.
    status = desk.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/timesedler/godkend', {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'},"
        " body: 'csrf=forged&name=serviceUnits/ishoejgaard/contactPersons/jonas-berg/timesheets/x'})"
        ".then(r => done(r.status)).catch(e => done(String(e)));"
    )
    assert status == 403
    # And a real form with its token removed.
    desk.get(BASE + "/log-ind")
    desk.get(BASE + "/koordinator")
    form = one(desk, 'form[action="/log-ud"]')
    desk.execute_script("arguments[0].querySelector('input[name=csrf]').remove()", form)
    form.find_element(By.CSS_SELECTOR, "button").click()
    WebDriverWait(desk, 10).until(lambda d: text_of(d, "h1") == "Formularen blev afvist")
    assert one(desk, "h1").text in ("Formularen blev afvist",), one(desk, "h1").text
    seen(desk, "31-form-refused")
    desk.get(BASE + "/koordinator")
    assert "/log-ind" not in desk.current_url, "still signed in: the sign-out was refused"


def test_every_screen_passes_the_accessibility_scan():
    assert not violations, "\n".join(
        f"{screen}: {v['id']} ({v['impact']}) {v['help']} at {v['nodes']}"
        for screen, found in violations.items()
        for v in found
    )


def test_no_screen_sends_more_than_200_kib(desk):
    sign_in(desk, "demo-coordinator")
    sizes = {}
    for path in ("/koordinator", "/kontaktpersoner", "/timesedler", "/koordinator/anmodning/" + "/".join(day["request"].split("/")[1::2])):
        sizes[path] = len(fetch(desk, path)[2])
    sign_in(desk, "demo-finance")
    sizes["/oekonomi/ishoj-vallensbaek"] = len(fetch(desk, "/oekonomi/ishoj-vallensbaek")[2])
    assert all(size < 200 * 1024 for size in sizes.values()), sizes
