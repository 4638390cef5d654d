"""`baton validate` on agents' tools, as a person runs it: every Python tool imported and its schema built (in
a child process), tool names an agent can tell apart, a `tool_choice` it can make, approval rules that
parse and name real parameters, MCP entries of the right shape, and delegated sub-agents checked like any
agent — each problem at the `line:col` of the field that has it. A good flow stays clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, baton_env

TOOLS = "tests.fixtures.agent_tools"

GOOD = f"""\
name: agent-tools
state:
  topic: str
  report: str
inputs: [topic]
steps:
  - id: researcher
    kind: agent
    model: mock/fast
    reads: [topic]
    writes: [report]
    prompt: "Research {{topic}}"
    tool_choice: search
    tools:
      - call: "{TOOLS}.research:search"
        approval: never
      - call: "{TOOLS}.research:read_file"
        name: read
        approval: {{when: "len(path) > 100 and encoding != 'utf-8'"}}
      - call: "{TOOLS}.research:write_report"
        timeout_s: 5
      - call: "{TOOLS}.research:COUNTER"
        name: count
      - mcp: {{command: [python, tests/fixtures/mcp_server.py], env: {{A: "1"}}}}
        include: [lookup]
        prefix: srv_
        approval: {{when: "query == 'x'"}}
      - mcp: {{url: "http://127.0.0.1:9/mcp"}}
      - step:
          id: checker
          kind: agent
          model: mock/fast
          reads: [topic]
          prompt: "Check the facts about {{topic}}"
          tool_choice: search
          tools:
            - call: "{TOOLS}.research:search"
              approval: {{when: "limit > 3"}}
"""

ENTRIES = f"""\
name: bad-entries
state:
  topic: str
  report: str
inputs: [topic]
steps:
  - id: lead
    kind: agent
    model: mock/fast
    reads: [topic]
    writes: [report]
    prompt: "Research {{topic}}"
    tool_choice: serch
    tools:
      - call: "{TOOLS}.research:search"
      - call: "{TOOLS}.research:read_file"
        name: search
      - call: "{TOOLS}.research:write_report"
        approval: {{when: "path.startswith('/')"}}
      - step:
          id: search
          kind: agent
          model: nosuch
          prompt: "Look up {{topic}}"
          tool_choice: required
          next: lead
  - id: plain
    kind: agent
    model: mock/fast
    prompt: "hi"
    tool_choice: required
"""

BROKEN = f"""\
name: bad-tools
state:
  report: str
steps:
  - id: lead
    kind: agent
    model: mock/fast
    prompt: "Write"
    writes: [report]
    tools:
      - call: "{TOOLS}.broken:spread"
      - call: "{TOOLS}.broken:connect"
      - call: "{TOOLS}.broken:later"
      - call: "{TOOLS}.broken:LIMIT"
      - call: "{TOOLS}.nosuch:fn"
      - call: "{TOOLS}.research:serch"
      - call: "{TOOLS}.research:search"
        approval: {{when: "qq == 'x' or limit > 2"}}
      - step:
          id: helper
          kind: agent
          model: mock/fast
          prompt: "help"
          tools:
            - call: "{TOOLS}.broken:configure"
"""

MCP = """\
name: bad-mcp
state:
  q: str
  a: str
inputs: [q]
steps:
  - id: ask
    kind: agent
    model: mock/fast
    prompt: "{q}"
    reads: [q]
    writes: [a]
    tools:
      - mcp: {command: [server], url: "http://localhost:1/mcp"}
      - mcp:
          url: ftp://host/mcp
      - mcp: {url: "https://host/mcp", cwd: /tmp}
        prefx: a_
      - mcp: {command: server}
        include: lookup
      - {call: "m:f", mcp: {url: "http://h"}}
      - call: nocolon
      - step:
          id: sub
          kind: agent
          model: mock/fast
          tools:
            - mcp: {url: "x"}
  - id: other
    kind: agent
    model: nosuch
    prompt: "{a}"
    reads: [a]
    tool_choice: lookup
"""


def baton(home: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command, in a fresh interpreter, with the repository importable (the fixtures' tools)."""
    return subprocess.run(
        [sys.executable, "-m", "baton.tui.cli", *args],
        cwd=ROOT,
        env=baton_env(home, tmp_path / "baton.db", PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=120,
    )


def validate(home: Path, tmp_path: Path, name: str, text: str) -> tuple[Path, subprocess.CompletedProcess[str]]:
    flow = tmp_path / name
    flow.write_text(text, encoding="utf-8")
    out = baton(home, tmp_path, "validate", str(flow))
    assert "Traceback" not in out.stdout + out.stderr and out.stderr == "", out.stderr
    return flow, out


def test_a_flow_with_every_kind_of_tool_entry_is_clean(private_home: Path, tmp_path: Path) -> None:
    flow, out = validate(private_home, tmp_path, "good.yaml", GOOD)
    assert out.returncode == 0, out.stdout
    assert out.stdout.splitlines() == [f"{flow}: ok — 'agent-tools': 1 top-level steps (agent), 2 state keys, 1 inputs"]


def test_names_choices_approval_rules_and_sub_agents_are_checked(private_home: Path, tmp_path: Path) -> None:
    flow, out = validate(private_home, tmp_path, "entries.yaml", ENTRIES)
    assert out.returncode == 2
    assert out.stdout.splitlines() == [
        f"{flow}:13:18: tool_choice 'serch' is not a tool of agent 'lead' (did you mean 'search'?): "
        "its tools are search, write_report (or use auto, required, none)",
        f"{flow}:17:15: agent 'lead' already has a tool named 'search' (tools[0]): give it another 'name'",
        f"{flow}:19:26: approval.when: method calls ('.startswith()') are not allowed in a rule: "
        "use len(x), lower(x), str(x), int(x), float(x)",
        f"{flow}:21:15: agent 'lead' already has a tool named 'search' (tools[0]): give the sub-agent another id",
        f"{flow}:23:18: unknown model alias 'nosuch': declare it under 'models:' or in the config file, "
        "or name a model as provider/model (mock/fast, openai/gpt-4o-mini)",
        f"{flow}:24:19: '{{topic}}' is used but step 'search' does not read 'topic': add it to reads",
        f"{flow}:25:24: tool_choice 'required' needs tools, and agent 'search' has none",
        f"{flow}:26:17: 'next' only applies to top-level steps",
        f"{flow}:31:18: tool_choice 'required' needs tools, and agent 'plain' has none",
    ]


def test_each_python_tool_is_imported_and_described_in_a_child_process(private_home: Path, tmp_path: Path) -> None:
    flow, out = validate(private_home, tmp_path, "tools.yaml", BROKEN)
    assert out.returncode == 2
    described = "cannot be described to a model"
    types = "(use str, int, float, bool, a list, a Literal, an Enum, a dataclass or a pydantic model)"
    assert out.stdout.splitlines() == [
        f"{flow}:11:15: tool '{TOOLS}.broken:spread' {described}: parameter '*terms': a model passes arguments "
        "by name, so *args cannot be described in a schema",
        f"{flow}:12:15: tool '{TOOLS}.broken:connect' {described}: parameter 'conn': pydantic cannot make "
        f"a JSON schema for socket.socket {types}",
        f"{flow}:13:15: tool '{TOOLS}.broken:later' {described}: parameter 'item': its type hint 'Missing' "
        "cannot be resolved (name 'Missing' is not defined)",
        f"{flow}:14:15: tool '{TOOLS}.broken:LIMIT' cannot be loaded: 'LIMIT' in '{TOOLS}.broken' "
        "is not a function (it is int)",
        f"{flow}:15:15: tool '{TOOLS}.nosuch:fn' cannot be loaded: no module named '{TOOLS}.nosuch' "
        f"(looked in {tmp_path} and the installed packages)",
        f"{flow}:16:15: tool '{TOOLS}.research:serch' cannot be loaded: '{TOOLS}.research' has no 'serch' "
        "(did you mean 'search'?)",
        f"{flow}:18:26: approval.when uses 'qq' (did you mean 'q'?), which is not a parameter of tool 'search' "
        "(its parameters: q, limit, kinds)",
        f"{flow}:25:21: tool '{TOOLS}.broken:configure' {described}: parameter '**options': a schema lists "
        "every argument by name, so **kwargs cannot be described",
    ]


def test_mcp_entries_of_the_wrong_shape_are_named_where_they_are(private_home: Path, tmp_path: Path) -> None:
    flow, out = validate(private_home, tmp_path, "mcp.yaml", MCP)
    assert out.returncode == 2
    assert out.stdout.splitlines() == [
        f"{flow}:14:14: steps[0].tools[0].mcp: an MCP server needs exactly one of 'command' (stdio) "
        "or 'url' (streamable HTTP)",
        f"{flow}:16:16: steps[0].tools[1].mcp.url: 'url' must start with http:// or https://, not 'ftp://host/mcp'",
        f"{flow}:17:14: steps[0].tools[2].mcp: 'env' and 'cwd' apply to a server started by 'command', "
        "not one reached by 'url'",
        f"{flow}:18:9: steps[0].tools[2].prefx: unknown field 'prefx' (did you mean 'prefix'?)",
        f"{flow}:20:18: steps[0].tools[3].include: expected a list, got the text 'lookup' (write [lookup])",
        f"{flow}:21:9: steps[0].tools[4]: a tool entry needs exactly one of 'call' (Python), 'mcp' (a server) "
        "or 'step' (an agent)",
        f"{flow}:22:15: steps[0].tools[5].call: 'call' must be 'module:function', not 'nocolon'",
        f"{flow}:28:26: steps[0].tools[6].step.tools[0].mcp.url: 'url' must start with http:// or https://, not 'x'",
        f"{flow}:31:12: unknown model alias 'nosuch': declare it under 'models:' or in the config file, "
        "or name a model as provider/model (mock/fast, openai/gpt-4o-mini)",
        f"{flow}:34:18: tool_choice 'lookup' needs tools, and agent 'other' has none",
    ]


def test_a_run_refuses_a_tool_no_model_could_call_before_creating_a_session(
    private_home: Path, tmp_path: Path
) -> None:
    flow = tmp_path / "tools.yaml"
    flow.write_text(BROKEN, encoding="utf-8")
    out = baton(private_home, tmp_path, "run", str(flow), "--auto", "approve", "--json")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(f"{flow}:11:15: tool '{TOOLS}.broken:spread' cannot be described to a model")
    assert not (tmp_path / "baton.db").exists()


SUB_AGENTS = """\
name: sub
state:
  q: str
inputs: [q]
steps:
  - id: ask
    kind: agent
    model: mock/fast
    prompt: "{q}"
    reads: [q]
    tools:
      - step:
          kind: agent
          model: mock/fast
      - step:
          id: three
          max_turns: 0
          modle: x
  - id: ask2
    kind: agent
    model: nosuch
"""


def test_a_sub_agent_s_type_errors_do_not_hide_the_rest(private_home: Path, tmp_path: Path) -> None:
    flow, out = validate(private_home, tmp_path, "sub.yaml", SUB_AGENTS)
    assert out.returncode == 2
    assert out.stdout.splitlines() == [
        f"{flow}:13:11: steps[0].tools[0].step: missing required field 'id'",
        f"{flow}:17:22: steps[0].tools[1].step.max_turns: must be at least 1, got the number 0",
        f"{flow}:18:11: steps[0].tools[1].step.modle: unknown field 'modle' (did you mean 'model'?)",
        f"{flow}:21:12: unknown model alias 'nosuch': declare it under 'models:' or in the config file, "
        "or name a model as provider/model (mock/fast, openai/gpt-4o-mini)",
    ]
