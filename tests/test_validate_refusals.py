"""`loadorch validate` (the CLI, in this process) on what used to pass it and then failed in a worker or never had
data. Each is exit 3 with the file, line, field and the fix; what works passes."""

from __future__ import annotations

import json

from tests.support.project import Project, assert_no_traceback

PROFILE = "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:9\nload: {duration: 5s}\n"

BROWSER_SCENARIO = """
name: s
data:
  sku: {choice: [abc, "a b"]}
  n: {int: [1, 9]}
browsers:
  - name: shopper
    journey:
      - {visit: /shop, name: home}
      - {click: CLICK}
      - {wait_for: WAIT_FOR}
      - {type: {selector: TYPED, text: hi}}
"""


def browser_project(project: Project, click: str, wait_for: str, typed: str) -> Project:
    """The scenario with these three selectors (written as JSON strings, which YAML reads as they are)."""
    scenario = BROWSER_SCENARIO
    for word, selector in (("CLICK", click), ("WAIT_FOR", wait_for), ("TYPED", typed)):
        scenario = scenario.replace(word, json.dumps(selector))
    project.write("scenarios/s.yaml", scenario)
    project.write("profiles/p.yaml", PROFILE)
    return project


def test_a_css_selector_querySelector_refuses_is_a_config_error_naming_it(project: Project) -> None:
    r = browser_project(project, "button[", "div >> p", "::nope(").cli("validate")
    assert r.code == 3, r.out + r.err
    assert_no_traceback(r)
    assert ("s.yaml:9: browsers[0].journey[1].click: invalid CSS selector 'button[': '[' must be followed by an "
            "attribute name (at character 7); write [name], [name=value] or [name=\"quoted value\"]") in r.err, r.err
    assert ("s.yaml:10: browsers[0].journey[2].wait_for: invalid CSS selector 'div >> p': '>>' is not a CSS "
            "combinator") in r.err, r.err
    assert "s.yaml:11: browsers[0].journey[3].type.selector: invalid CSS selector '::nope(': unknown " in r.err


def test_a_placeholder_value_that_breaks_the_selector_is_named(project: Project) -> None:
    r = browser_project(project, "[data-sku={sku}]", "#{n}", "#q").cli("validate")
    assert r.code == 3, r.out + r.err
    assert ("browsers[0].journey[1].click: invalid CSS selector '[data-sku={sku}]' when {sku} is 'a b' "
            "('[data-sku=a b]'): unknown attribute flag 'b'") in r.err, r.err
    assert "browsers[0].journey[2].wait_for: invalid CSS selector '#{n}' when {n} is 1 ('#1')" in r.err, r.err
    assert "journey[3]" not in r.err, r.err


def test_selectors_chromium_accepts_pass(project: Project) -> None:
    r = browser_project(project, '[data-sku="{sku}"] > button:nth-child(2n+1 of .buy)',
                        "#item-{n}, li:has(> img):not(.hidden)::after", "input[name=q i]").cli("validate")
    assert r.code == 0, r.out + r.err


HTTP_SCENARIO = """
name: s
users:
  - name: api
    requests:
      - {name: "list, products", path: /products}
      - {name: "get {id}", path: /products/1}
thresholds:
  SELECTOR: ["p(95)<300"]
"""
HTTP_PROFILE = "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:9\nload: {users: 1, duration: 5s}\n"


def http_project(project: Project, selector: str) -> Project:
    project.write("scenarios/s.yaml", HTTP_SCENARIO.replace("SELECTOR", json.dumps(selector)))
    project.write("profiles/p.yaml", HTTP_PROFILE)
    return project


def test_an_endpoint_name_with_a_comma_is_selected_quoted(project: Project) -> None:
    for selector in ('http_req_duration{name:"list, products"}', "http_req_duration{name:'list, products', kind:read}",
                     "http_req_duration{name:get {id}}", 'http_req_duration{name:"get {id}"}'):
        r = http_project(project, selector).cli("validate")
        assert r.code == 0, (selector, r.out + r.err)


def test_an_endpoint_name_with_a_comma_unquoted_says_to_quote_it(project: Project) -> None:
    r = http_project(project, "http_req_duration{name:list, products}").cli("validate")
    assert r.code == 3, r.out + r.err
    assert ("s.yaml:8: thresholds.http_req_duration{name:list, products}: invalid tag filter 'products' in "
            "'http_req_duration{name:list, products}'; expected tag:value (a value holding a comma is quoted: "
            'name:"list, products")') in r.err, r.err
    r = http_project(project, "http_req_duration{name:list}").cli("validate")
    assert r.code == 3 and "no endpoint is named 'list'; known: 'get {id}', 'list, products' (a name holding a " \
        'comma is quoted: name:"a, b")' in r.err, r.err
    r = http_project(project, 'http_req_duration{name:"list, products}').cli("validate")
    assert r.code == 3 and "is not closed; close it with \"" in r.err, r.err


PAGES_SCENARIO = """
name: s
browsers:
  - name: shopper
    journey:
      - {visit: "/shop?c=1", name: home}
      - {visit: /cart, name: cart}
      - {visit: /about}
      - STEP
thresholds:
  SELECTOR: ["p(75)<2500"]
"""


def pages_project(project: Project, selector: str, step: str = "{wait_for: main}") -> Project:
    project.write("scenarios/s.yaml", PAGES_SCENARIO.replace("SELECTOR", json.dumps(selector)).replace("STEP", step))
    project.write("profiles/p.yaml", PROFILE)
    return project


def test_a_page_path_no_journey_can_reach_is_a_config_error(project: Project) -> None:
    r = pages_project(project, "browser_web_vital_lcp{page:/cart}").cli("validate")
    assert r.code == 3, r.out + r.err
    assert ("s.yaml:10: thresholds.browser_web_vital_lcp{page:/cart}: no page view is named '/cart': the visit of "
            "/cart is named 'cart', and a view takes its visit's name; write {page:cart}") in r.err, r.err
    r = pages_project(project, "browser_web_vital_lcp{page:/abuot}").cli("validate")
    assert r.code == 3, r.out + r.err
    assert ("no visit step names a page '/abuot' and no journey clicks, types or presses (which could open a page "
            "no visit names); did you mean '/about'?") in r.err, r.err
    r = pages_project(project, "browser_web_vital_cls{page:/about?x=1}").cli("validate")
    assert r.code == 3 and "a page is named by its path without the query or fragment; write {page:/about}" in r.err


def test_pages_a_journey_can_reach_pass(project: Project) -> None:
    for selector in ("browser_web_vital_lcp{page:home}", "browser_web_vital_lcp{page:/about}",
                     "browser_web_vital_lcp{page:cart,user:shopper}"):
        r = pages_project(project, selector).cli("validate")
        assert r.code == 0, (selector, r.out + r.err)
    # a click may open a page no visit names: its view is named by its path
    r = pages_project(project, "browser_web_vital_lcp{page:/checkout}", '{click: "#checkout"}').cli("validate")
    assert r.code == 0, r.out + r.err


def test_validate_says_what_a_run_would_warn_of(project: Project) -> None:
    """A secret too short to mask safely, and a page only a script can open: accepted (exit 0), and said by
    validate as the run says them before its load, not first in the run."""
    project.write("scenarios/s.yaml", PAGES_SCENARIO.replace("SELECTOR", '"browser_web_vital_lcp{page:/moved}"')
                  .replace("STEP", "{wait_for: main}"))
    project.write("profiles/p.yaml", PROFILE + "headers: {Authorization: 'Bearer ${TOKEN}'}\nsecrets: [TOKEN]\n")
    r = project.cli("validate", "p", env={"TOKEN": "abc"})
    assert r.code == 0, r.out + r.err
    assert "warning: secret TOKEN is only 3 characters" in r.err, r.err
    [page] = [line for line in r.err.splitlines() if "/moved" in line]
    assert page.startswith("warning: ") and page.endswith(
        "s.yaml:10: thresholds.browser_web_vital_lcp{page:/moved}: no visit step names a page '/moved' and no journey "
        "clicks, types or presses: only a page's own script (a redirect) can open it; if none does, this threshold "
        "fails as no data"), page
    assert "abc" not in r.out + r.err
HEADERS_SCENARIO = """
name: s
headers: {X-Common: "{city}"}
data:
  city: {choice: [Paris, "東京"]}
  person: {csv: {file: people.csv}}
users:
  - name: u
    requests:
      - name: r
        path: /health
        headers: {X Forwarded: a, X-Literal: "日本", X-Row: "{person.name}", X-Fine: "Zürich {person.id}"}
"""
HEADERS_PROFILE = "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:9\nload: {users: 1, duration: 5s}\n"


def test_a_header_no_http_request_can_carry_is_a_config_error(project: Project) -> None:
    """What the generated pass found running: a header name with a space or an accent (the server answered 400:
    the setup failed, exit 5; `client: locust` stopped every user on a ValueError) and a value holding what no
    header can carry, written or drawn (the lean client sent `?` in its place; Locust's refused the request)."""
    project.write("scenarios/people.csv", "id,name\n1,Ada\n2,山田\n")
    project.write("scenarios/s.yaml", HEADERS_SCENARIO)
    project.write("profiles/p.yaml", HEADERS_PROFILE + "headers: {X-Café: x}\n")
    r = project.cli("validate")
    assert r.code == 3, r.out + r.err
    assert_no_traceback(r)
    assert ("p.yaml:4: headers: header name 'X-Café' holds 'é' (U+00E9): a header name is letters, digits and "
            "!#$%&'*+-.^_`|~ only (no spaces, no accents)") in r.err, r.err
    assert "s.yaml:11: users[0].requests[0].headers: header name 'X Forwarded' holds ' ' (U+0020)" in r.err, r.err
    project.write("profiles/p.yaml", HEADERS_PROFILE)
    project.write("scenarios/s.yaml", HEADERS_SCENARIO.replace("X Forwarded", "X-Forwarded"))
    r = project.cli("validate")
    assert r.code == 3, r.out + r.err
    assert ("s.yaml:11: users[0].requests[0].headers: header 'X-Literal': its value holds '日' (U+65E5), which no "
            "HTTP header can carry (header values are ASCII, or Latin-1 at most); percent-encode it (%E6%97%A5) or "
            "send it in the body") in r.err, r.err
    project.write("scenarios/s.yaml", HEADERS_SCENARIO.replace("X Forwarded", "X-Forwarded").replace("日本", "ok"))
    r = project.cli("validate")
    assert r.code == 3, r.out + r.err
    assert ("s.yaml:2: headers.X-Common: header 'X-Common': when {city} is '東京', its value holds '東' (U+6771)"
            in r.err), r.err
    assert ("s.yaml:11: users[0].requests[0].headers.X-Row: header 'X-Row': when {person.name} is '山田', its value "
            "holds '山' (U+5C71)") in r.err, r.err
    assert "X-Fine" not in r.err, r.err  # Latin-1 is sent as its byte; a number is ASCII


def test_headers_http_can_carry_pass(project: Project) -> None:
    project.write("scenarios/people.csv", "id,name\n1,Ada\n2,Zoë\n")
    scenario = HEADERS_SCENARIO.replace("X Forwarded", "X-Forwarded").replace("日本", "a\tb").replace("東京", "Köln")
    project.write("scenarios/s.yaml", scenario)
    project.write("profiles/p.yaml", HEADERS_PROFILE + "headers: {\"X-Odd!#$%&'*+.^_`|~\": \"{city}\"}\n")
    r = project.cli("validate")
    assert r.code == 0, r.out + r.err


def test_nan_and_infinity_are_no_json_values(project: Project) -> None:
    """YAML's `.nan` and `.inf` passed validate and went out as `NaN` / `Infinity` in JSON bodies (not JSON: the
    target's 400); a float range too wide for a float drew `inf`."""
    project.write("scenarios/s.yaml", """
name: s
data:
  up: {float: [0, .inf]}
  wide: {float: [-1.7e308, 1.7e308]}
  fine: {float: [-1.5, 1.5]}
  const: {value: .nan}
users:
  - name: u
    requests:
      - {name: r, method: POST, path: /x, json: {a: "{up}", b: .inf, c: "{fine}"}}
""")
    project.write("profiles/p.yaml", HEADERS_PROFILE)
    r = project.cli("validate")
    assert r.code == 3, r.out + r.err
    assert_no_traceback(r)
    assert "s.yaml:3: data.up: inf (JSON has no NaN or Infinity) is not a JSON value; quote it to send it as text" in r.err
    assert ("s.yaml:4: data.wide: float range [low, high] is wider than a float can hold (its draws would be inf): "
            "narrow it") in r.err, r.err
    assert "s.yaml:6: data.const: nan (JSON has no NaN or Infinity) is not a JSON value" in r.err, r.err
    assert "s.yaml:10: users[0].requests[0].json: inf (JSON has no NaN or Infinity) is not a JSON value" in r.err
    assert "data.fine" not in r.err, r.err


def test_a_data_generator_named_as_a_builtin_is_refused_where_the_builtin_wins(project: Project) -> None:
    """`data: {user: ...}` read as `{user}` in a request was accepted and never drawn (it is the virtual user's
    slot there); each built-in is refused where the scenario reads it and the built-in wins, and only there:
    `{page}` in an HTTP request is the generator (page is a built-in of browser journeys alone)."""
    request = "users:\n  - {name: u, requests: [{name: r, path: '/x?v={NAME}'}]}\n"
    setup = "setup:\n  - {name: s, request: {method: POST, path: '/x?v={NAME}'}}\n" + request.replace("{NAME}", "1")
    journey = "browsers:\n  - {name: b, journey: [{visit: '/x?v={NAME}'}]}\n"
    common = "headers: {X-Who: '{NAME}'}\n" + request.replace("{NAME}", "1")  # the scenario's headers go with them
    for name, where, body in (("user", "users' requests", request), ("iteration", "users' requests", request),
                              ("worker", "users' requests", common),
                              ("index", "setup", setup), ("page", "browser journeys", journey),
                              ("iteration", "browser journeys", journey)):
        project.write("scenarios/s.yaml", f"name: s\ndata:\n  {name}: {{choice: [a, b]}}\n" + body.replace("NAME", name))
        project.write("profiles/p.yaml", PROFILE)
        r = project.cli("validate")
        assert r.code == 3, (name, body, r.out + r.err)
        assert (f"s.yaml:3: data.{name}: {{{name}}} is a built-in placeholder in {where}, so this generator would "
                f"never be drawn there; give it another name (e.g. {name}_id)") in r.err, r.err
    for name in ("page", "index"):  # not built in where they are read: the generator is drawn
        project.write("scenarios/s.yaml", f"name: s\ndata:\n  {name}: {{choice: [a, b]}}\n" + request.replace("NAME", name))
        project.write("profiles/p.yaml", PROFILE.replace("{duration: 5s}", "{users: 1, duration: 5s}"))
        r = project.cli("validate")
        assert r.code == 0, (name, r.out + r.err)


def test_a_scenario_that_fails_does_not_make_the_profiles_free_tags_unknown(project: Project) -> None:
    """With its scenario in error, the profile's thresholds are checked on their own: a tag the scenario declares
    (`flow`) read as "unknown tag", a second, false problem beside the real one."""
    project.write("scenarios/s.yaml", "name: s\nusers:\n  - {name: u, requests: [{name: r, path: /x, tags: {flow: buy}, "
                                      "weight: -1}]}\n")
    project.write("profiles/p.yaml", PROFILE + "thresholds: {'http_req_duration{flow:buy}': ['p(95)<300'], "
                                               "'http_req_duration{nosuch_metric_tag}': ['p(95)<300']}\n")
    r = project.cli("validate")
    assert r.code == 3, r.out + r.err
    assert "weight" in r.err and "unknown tag 'flow'" not in r.err, r.err
    assert "nosuch_metric_tag" in r.err  # a selector's own syntax is still checked
