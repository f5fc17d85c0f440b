"""The Jenkins nightly (it cannot run Jenkins: it reads the Jenkinsfile's text): the pipeline fans the
acceptance suite out as SHARDS shards, one per KVM host under that host's lock, tears each VM down
whatever happened, merges the shards' reports and publishes the merged one; and every shell command it
runs is one that .ci/run runs too (so CI exercises the nightly's logic on every submission).

``ci_commands`` is also used by test_readme.py: it keeps returning whole command lines."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
JENKINSFILE = REPO / "Jenkinsfile"
CI_RUN = REPO / ".ci" / "run"

STAGES = ["Acceptance shards (vagrant)", "Sensitivity (docker, whole catalogue)", "Merged report"]
SHARD_RUN = "tox -e acceptance"
TEARDOWN = "tox exec -e acceptance -- lab down"
MERGE = "tox exec -e acceptance -- lab report merge"

# ---------------------------------------------------------------------------------------------------
# Reading Groovy: string literals and comments, blocks, `sh` commands


def _string_end(text: str, i: int) -> int:
    """The index just past the Groovy string literal that starts at ``text[i]`` ('…', "…", '''…''',
    \"\"\"…\"\"\"); a GString's ``${…}`` may hold quotes of its own."""
    quote = next(q for q in ('"""', "'''", '"', "'") if text.startswith(q, i))
    j = i + len(quote)
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif quote[0] == '"' and text.startswith("${", j):
            depth, j = 1, j + 2
            while j < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
        elif text.startswith(quote, j):
            return j + len(quote)
        else:
            j += 1
    raise ValueError(f"unterminated string literal at {i}: {text[i : i + 40]!r}")


def skeleton(text: str) -> str:
    """``text`` with comments blanked and the inside of every string literal replaced by ``_`` (same
    length, newlines kept): braces, parentheses and words in it are code, never text."""
    out = list(text)
    i = 0
    while i < len(text):
        if text.startswith("//", i) or text.startswith("/*", i):
            end = text.find("\n", i) if text[i + 1] == "/" else text.find("*/", i) + 2
            end = len(text) if end in (-1, 1) else end
            out[i:end] = [c if c == "\n" else " " for c in text[i:end]]
            i = end
        elif text[i] in "'\"":
            end = _string_end(text, i)
            quote = 3 if text[i : i + 3] in ('"""', "'''") else 1
            out[i + quote : end - quote] = [c if c == "\n" else "_" for c in text[i + quote : end - quote]]
            i = end
        else:
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class Block:
    """``name(args) { body }`` (or ``name { body }``) in a Groovy text: args and body as written."""

    args: str
    body: str
    end: int  # index just past the closing brace


def _closing(skel: str, open_index: int) -> int:
    depth = 0
    for j in range(open_index, len(skel)):
        depth += {"{": 1, "}": -1}.get(skel[j], 0)
        if depth == 0:
            return j
    raise ValueError(f"unbalanced braces from {open_index}")


def blocks(text: str, name: str) -> list[Block]:
    """Every ``name(args) { … }`` / ``name { … }`` of ``text`` outside strings and comments."""
    skel = skeleton(text)
    found = []
    for m in re.finditer(rf"\b{re.escape(name)}\b\s*(?:\(([^()]*(?:\([^()]*\)[^()]*)*)\))?\s*\{{", skel):
        close = _closing(skel, m.end() - 1)
        args = text[m.start(1) : m.end(1)] if m[1] is not None else ""
        found.append(Block(args=args, body=text[m.end() : close], end=close + 1))
    return found


def try_finally(text: str) -> list[tuple[str, str]]:
    """(try body, finally body) of every ``try { … } [catch (…) { … }] finally { … }`` of ``text``."""
    skel = skeleton(text)
    pairs = []
    for block in blocks(text, "try"):
        pos = block.end
        while m := re.compile(r"\s*catch\s*\([^)]*\)\s*\{").match(skel, pos):
            pos = _closing(skel, m.end() - 1) + 1
        if m := re.compile(r"\s*finally\s*\{").match(skel, pos):
            pairs.append((block.body, text[m.end() : _closing(skel, m.end() - 1)]))
    return pairs


def shell_lines(script: str) -> list[str]:
    """The command lines of a shell script: continuations joined, blank and comment lines dropped."""
    joined = re.sub(r"[ \t]*\\\n\s*", " ", script)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def sh_commands(text: str) -> list[str]:
    """The command lines of the ``sh`` steps of a pipeline, in order, as written (GString ``${…}``
    kept): ``sh '…'``, ``sh "…"``, ``sh '''…'''``, ``sh \"\"\"…\"\"\"``, ``sh('…')``, ``sh(script: "…")``;
    a multi-line script gives each of its commands. Commented-out steps are not commands."""
    skel = skeleton(text)
    commands = []
    for m in re.finditer(r"\bsh\b\s*(?:\(\s*(?:script\s*:\s*)?)?(?=['\"])", skel):
        start = m.end()
        end = _string_end(text, start)
        quote = 3 if text[start : start + 3] in ('"""', "'''") else 1
        commands += shell_lines(text[start + quote : end - quote])
    return commands


# ---------------------------------------------------------------------------------------------------
# Commands: as run, and their core


def bare(command: str) -> str:
    """A command as run, without what only says how: leading ``VAR=value`` settings, ``sudo -n`` (a
    non-root Jenkins agent needs it, CI runs as root), ``timeout N`` and ``bash``."""
    words = command.split()
    while words and (re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]) or words[0] in ("sudo", "-n", "bash")):
        words.pop(0)
    if words[:1] == ["timeout"]:
        words = words[2:]
    if words[:1] == ["bash"]:
        words.pop(0)
    return " ".join(words)


@cache
def _lab_parser() -> argparse.ArgumentParser:
    from harness.cli import build_parser

    return build_parser()


def _subcommand_words(words: list[str]) -> list[str]:
    """The program and subcommand words that start ``words``: for ``lab``, its subcommands as its
    parser knows them (``lab report merge OUT DIR...`` -> ``lab report merge``); otherwise the words
    up to the first option."""
    if words[:1] != ["lab"]:
        return list(next((words[:i] for i, w in enumerate(words) if w.startswith("-")), words))
    kept, parser = ["lab"], _lab_parser()
    for word in words[1:]:
        choices = next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})
        if word not in choices:
            break
        kept.append(word)
        parser = choices[word]
    return kept


def core(command: str) -> str:
    """What a command runs, whatever its option values: the ``bare`` command up to ``--`` and, after
    it, the program and subcommand words up to the first option or argument
    (``tox -e acceptance -- --shard ${i}/${n}`` and ``tox -e acceptance -- --shards 4`` are both
    ``tox -e acceptance``; ``… -- lab down --volumes`` is ``… -- lab down``)."""
    words = bare(command).split()
    if "--" not in words:
        return " ".join(words)
    cut = words.index("--")
    after = _subcommand_words(words[cut + 1 :])
    return " ".join([*words[:cut], "--", *after] if after else words[:cut])


def ci_commands(text: str) -> list[str]:
    """The command lines of a shell script (continuations joined, comments dropped), each ``bare``."""
    return [bare(line) for line in shell_lines(text)]


def not_run_by_ci(commands: list[str], ci_script: str) -> list[str]:
    """The commands whose core no command line of ``ci_script`` has."""
    ci = {core(line) for line in ci_commands(ci_script)}
    return [c for c in commands if core(c) not in ci]


# ---------------------------------------------------------------------------------------------------
# The pipeline's structure

HOST_LOCK = re.compile(
    r"""resource:\s*"[^"]*\$\{env\.NODE_NAME\}[^"]*"|label:\s*'[^']+'\s*,\s*quantity:\s*1"""
)
FAILS_BUILD = re.compile(r"buildResult:\s*'FAILURE'")


def stages(text: str) -> dict[str, str]:
    """The stages, name -> body, in order."""
    return {re.sub(r"^\s*['\"]|['\"]\s*$", "", b.args): b.body for b in blocks(text, "stage")}


def count_names(text: str, scope: str) -> set[str]:
    """The variables of ``scope`` that hold the SHARDS parameter: assigned from ``params.SHARDS`` or
    from a method of ``text`` that reads it."""
    readers = {
        m[1]
        for m in re.finditer(r"(?m)^(?:int|Integer|def)\s+(\w+)\s*\(\s*\)\s*\{", text)
        if "params.SHARDS" in blocks(text[m.start() :], m[1])[0].body
    }
    names = set()
    for m in re.finditer(r"\b(?:int|Integer|def|final)\s+(\w+)\s*=\s*([^\n;]+)", scope):
        if "params.SHARDS" in m[2] or any(re.search(rf"\b{r}\s*\(\s*\)", m[2]) for r in readers):
            names.add(m[1])
    return names


@dataclass(frozen=True)
class Loop:
    index: frozenset[str]  # the loop variable and its copies in the body
    body: str


C_LOOP = r"\s*(?:int|def)?\s*(\w+)\s*=\s*1\s*;\s*\1\s*<=\s*(\w+)\s*;\s*\1\s*\+\+\s*"
IN_LOOP = r"\s*(?:int|def)?\s*(\w+)\s+in\s+1\s*\.\.\s*(\w+)\s*"


def shard_loops(text: str, scope: str) -> list[Loop]:
    """The loops of ``scope`` over shards 1 to SHARDS (``for (int k = 1; k <= n; k++)`` or
    ``for (k in 1..n)``, n holding the parameter), each with its index variables."""
    counts = count_names(text, scope)
    loops = []
    for block in blocks(scope, "for"):
        m = re.fullmatch(C_LOOP, block.args) or re.fullmatch(IN_LOOP, block.args)
        if m and m[2] in counts:
            copy = rf"(?m)\b(?:int|def|final\s+int)\s+(\w+)\s*=\s*{m[1]}\s*;?\s*$"
            copies = re.findall(copy, skeleton(block.body))
            loops.append(Loop(frozenset([m[1], *copies]), block.body))
    return loops


def _var(names: frozenset[str] | set[str]) -> str:
    return "(?:" + "|".join(re.escape(n) for n in sorted(names)) + ")"


def _template(text: str, index: frozenset[str]) -> str:
    """A GString with the shard index written ``${K}`` whatever the variable's name."""
    return re.sub(rf"\$\{{{_var(index)}\}}", "${K}", text)


def _stash_names(text: str, step: str, index: frozenset[str]) -> set[str]:
    calls = re.finditer(rf"\b{step}\s*\((?:[^)]*?\bname:\s*)?\"([^\"]*)\"", text)
    return {_template(m[1], index) for m in calls}


def check_shards(text: str, body: str) -> tuple[list[str], set[str]]:
    """Problems of the shard stage, and the names its branches stash their reports under."""
    loops = shard_loops(text, body)
    if not loops:
        return ["the shard stage does not loop over shards 1 to the SHARDS parameter"], set()
    loop, counts = loops[0], count_names(text, body)
    index, problems = loop.index, []

    def need(condition: object, problem: str) -> None:
        if not condition:
            problems.append(problem)

    parallel = [b for b in blocks(body, "catchError") if re.search(r"\bparallel\b", b.body)]
    need(parallel and FAILS_BUILD.search(parallel[0].args),
         "`parallel` must run inside catchError(buildResult: 'FAILURE', …): a red shard makes the build "
         "red but the merge still runs")
    nodes = [b for b in blocks(loop.body, "node") if re.fullmatch(r"\s*(?:label:\s*)?'kvm'\s*", b.args)]
    if not nodes:
        return [*problems, "each shard's branch must run on node('kvm')"], set()
    branch = nodes[0].body
    need(re.search(r"\bcheckout\s+scm\b", branch), "each branch must `checkout scm` on its node")
    locks = [b for b in blocks(branch, "lock") if HOST_LOCK.fullmatch(b.args.strip())]
    if not locks:
        return [*problems, "each shard's work must run inside lock(resource: \"kvm-host-${env.NODE_NAME}\") "
                           "or lock(label: '…', quantity: 1) on its node"], set()
    work = locks[0].body
    commands = sh_commands(work)
    setup = "provision/host/prepare.sh --vms --images"
    need(any(bare(c) == setup and c.startswith("sudo -n ") for c in commands),
         "each branch must run `sudo -n provision/host/prepare.sh --vms --images` under the lock")
    shard_arg = re.compile(rf"(?:^|\s)--shard\s+\$\{{{_var(index)}\}}/\$\{{{_var(counts)}\}}(?:\s|$)")
    runs = [c for c in commands if core(c) == SHARD_RUN]
    need(len(runs) == 1 and shard_arg.search(runs[0]),
         f"each branch must run `{SHARD_RUN} -- --shard ${{<loop variable>}}/${{<SHARDS>}}` under the lock, "
         f"not {runs}")
    downs = [c for c in commands if core(c) == TEARDOWN]
    need(len(downs) == 1 and "--volumes" in downs[0].split(),
         f"each branch must tear its VM down with `{TEARDOWN} --volumes`, not {downs}")

    setting = rf"LAB_REPORTS_DIR=reports/shard-\$\{{{_var(index)}\}}"
    with_dir = [c for b in blocks(work, "withEnv") if re.search(rf"[\"']{setting}[\"']", b.args)
                for c in sh_commands(b.body)]
    with_dir += [c for c in commands if re.match(rf"(?:\S+=\S*\s+)*{setting}\s", c)]
    need(runs and runs[0] in with_dir and downs and downs[0] in with_dir,
         "the shard run and its teardown must both have LAB_REPORTS_DIR=reports/shard-${<loop variable>}")

    stashes: set[str] = set()
    for tried, final in try_finally(work):
        if runs and runs[0] in sh_commands(tried) and downs and downs[0] in sh_commands(final):
            stashes = {m[1] for m in re.finditer(r"\bstash\s*\(([^)]*)\)", final)}
    need(stashes, "the teardown (and the stash) must be in the `finally` of the `try` that runs the shard")
    named = set()
    for args in stashes:
        includes = re.search(r"\bincludes:\s*[\"']([^\"']*)[\"']", args)
        if includes and _template(includes[1], index) == "reports/shard-${K}/**":
            named |= _stash_names(f"stash({args})", "stash", index)
    need(any("${K}" in n for n in named) or not stashes,
         "each branch must stash includes: \"reports/shard-${<loop variable>}/**\" under a name with "
         "its index")
    return problems, named


def check_merge(text: str, body: str, stashed: set[str]) -> list[str]:
    problems: list[str] = []

    def need(condition: object, problem: str) -> None:
        if not condition:
            problems.append(problem)

    need(re.search(r"\bagent\s*\{\s*(?:label\s+'kvm'|any)\s*\}", body), "the merge stage needs an agent")
    loops = shard_loops(text, body)
    if not loops:
        return [*problems, "the merge stage does not loop over shards 1 to the SHARDS parameter"]
    loop = loops[0]
    unstashed = _stash_names(loop.body, "unstash", loop.index)
    need(stashed and unstashed == stashed,
         f"the merge must unstash each shard's stash {sorted(stashed)}, not {sorted(unstashed)}")
    merges = [c for c in sh_commands(body) if core(c) == MERGE]
    if len(merges) != 1:
        return [*problems, f"the merge stage must run `{MERGE} reports …` once, not {merges}"]
    args = bare(merges[0]).split()[len(MERGE.split()) :]
    joined = re.fullmatch(r"\$\{(\w+)\.join\(' '\)\}", " ".join(args[1:]))
    dirs = {f"reports/shard-${{{v}}}" for v in loop.index}
    added = set()
    if joined:
        for m in re.finditer(rf"\b{joined[1]}\s*(?:<<\s*|\.add\(\s*)(\"[^\"]*\"|\w+)", loop.body):
            value = m[1]
            assigned = re.search(rf"\b{value}\s*=\s*\"([^\"]*)\"", loop.body) if value[0] != '"' else None
            added.add(assigned[1] if assigned else value.strip('"'))
    need(args[:1] == ["reports"] and joined and added and added <= dirs,
         f"the merge must write to reports/ from the shards' reports/shard-${{<index>}}: {merges[0]!r}")
    fails = all(FAILS_BUILD.search(b.args) for b in blocks(body, "catchError") if MERGE in b.body)
    need(fails and "returnStatus" not in body and "|| true" not in merges[0],
         "a red merged report must make the build red")
    need(not joined or re.search(r"\berror\s*\(", body),
         "a shard that left no reports must make the build red (error)")
    post = [a.body for p in blocks(body, "post") for a in blocks(p.body, "always")]
    always = post[0] if post else ""
    need(re.search(r"\bjunit\s*\(\s*testResults:\s*'reports/junit\.xml'", always),
         "post always: junit(testResults: 'reports/junit.xml') of the merged report")
    cucumber = (r"\bcucumber\s*\(\s*fileIncludePattern:\s*'cucumber\.json',"
                r"\s*jsonReportDirectory:\s*'reports'\s*\)")
    need(re.search(cucumber, always),
         "post always: cucumber(fileIncludePattern: 'cucumber.json', jsonReportDirectory: 'reports')")
    need(re.search(r"\barchiveArtifacts\s*\(\s*artifacts:\s*'reports/\*\*'", always),
         "post always: archiveArtifacts(artifacts: 'reports/**')")
    return problems


def check_structure(text: str) -> list[str]:
    """What the nightly lacks, one sentence each (empty when it has it all)."""
    problems: list[str] = []

    def need(condition: object, problem: str) -> None:
        if not condition:
            problems.append(problem)

    need(re.search(r"triggers\s*\{\s*cron\('[^']+'\)", text), "no nightly cron trigger")
    options = "".join(b.body for b in blocks(text, "options"))
    need(re.search(r"\btimeout\s*\(\s*time:", options), "no timeout option")
    params = "".join(b.body for b in blocks(text, "parameters"))
    need(re.search(r"string\(\s*name:\s*'SHARDS',\s*defaultValue:\s*'2'", params),
         "parameter SHARDS (default '2')")
    for name in ("LAB_TIMEOUT_SCALE", "LAB_STORES"):
        need(re.search(rf"\(\s*name:\s*'{name}'", params), f"parameter {name}")
    env = "".join(b.body for b in blocks(text, "environment"))
    for setting in ("CI = 'true'", "LAB_TARGET = 'vagrant'", "LAB_DESTROY = 'always'",
                    'LAB_STORES = "${params.LAB_STORES}"',
                    'LAB_TIMEOUT_SCALE = "${params.LAB_TIMEOUT_SCALE}"'):
        need(setting in env, f"environment: {setting}")
    found = stages(text)
    need(list(found) == STAGES, f"stages {list(found)}, expected {STAGES}")

    shard_problems, stashed = check_shards(text, found.get(STAGES[0], ""))
    problems += shard_problems

    sensitivity = found.get(STAGES[1], "")
    runs = [c for c in sh_commands(sensitivity) if core(c) == "tox -e sensitivity"]
    need(len(runs) == 1 and bare(runs[0]) == "tox -e sensitivity" and "LAB_TARGET=docker" in runs[0].split()
         and "LAB_PROJECT=obslab-nightly-faults" in runs[0].split(),
         f"sensitivity: `LAB_TARGET=docker LAB_PROJECT=obslab-nightly-faults tox -e sensitivity`, not {runs}")
    guarded = [b for b in blocks(sensitivity, "catchError") if FAILS_BUILD.search(b.args)]
    need(runs and any(runs[0] in sh_commands(b.body) for b in guarded),
         "sensitivity inside catchError(buildResult: 'FAILURE'): an escape makes the build red, the merge "
         "still runs")

    problems += check_merge(text, found.get(STAGES[2], ""), stashed)
    return problems


# ---------------------------------------------------------------------------------------------------
# Tests


def test_pipeline_structure() -> None:
    assert check_structure(JENKINSFILE.read_text()) == []


def _lock_around_setup_only(text: str) -> str:
    """The shard's lock moved so that it holds the host for the setup only."""
    start = text.index('lock(resource: "kvm-host-${env.NODE_NAME}") {')
    text = text[:start] + "{" + text[start + len('lock(resource: "kvm-host-${env.NODE_NAME}") {') :]
    setup = "sh 'sudo -n provision/host/prepare.sh --vms --images'"
    return text.replace(setup, f'lock(resource: "kvm-host-${{env.NODE_NAME}}") {{ {setup} }}', 1)


MUTATIONS = {
    # name: (what is replaced, by what, a word of the problem expected)
    "no lock": ('lock(resource: "kvm-host-${env.NODE_NAME}")', "timeout(time: 2, unit: 'HOURS')", "lock("),
    "lock on every host by one name": ('"kvm-host-${env.NODE_NAME}"', "'kvm-host'", "lock("),
    "another label": ("node('kvm')", "node('docker')", "node('kvm')"),
    "fixed shard index": ("--shard ${shard}/${shards}", "--shard 1/${shards}", "--shard"),
    "fixed shard count": ("--shard ${shard}/${shards}", "--shard ${shard}/2", "--shard"),
    "all shards at once": ("--shard ${shard}/${shards}", "--shards ${shards}", "--shard"),
    "loop to a constant": ("k <= shards; k++) {\n                        int shard",
                           "k <= 2; k++) {\n int shard", "loop"),
    "no checkout": ("checkout scm", "echo 'nothing'", "checkout scm"),
    "no setup": ("sh 'sudo -n provision/host/prepare.sh --vms --images'", "echo 'no setup'", "prepare.sh"),
    "shared reports dir": ('"LAB_REPORTS_DIR=reports/shard-${shard}"', '"LAB_REPORTS_DIR=reports"',
                           "LAB_REPORTS_DIR"),
    "no teardown": ("sh 'tox exec -e acceptance -- lab down --volumes'", "echo 'left running'", "lab down"),
    "teardown keeps volumes": ("lab down --volumes'", "lab down'", "lab down"),
    "teardown not in finally": ("} finally {\n                                            try {",
                                "}\n if (true) {\n try {", "finally"),
    "stash of everything": ('includes: "reports/shard-${shard}/**"', "includes: 'reports/**'", "stash"),
    "unstash of another name": ('unstash(name: "reports-shard-${k}")', 'unstash(name: "shard-${k}")',
                                "unstash"),
    "merge into a shard's dir": ("lab report merge reports ${inputs.join(' ')}",
                                 "lab report merge reports/all ${inputs.join(' ')}", "merge"),
    "merge of the wrong inputs": ("inputs << shardDir", 'inputs << "reports"', "merge"),
    "merge that cannot fail": ("sh \"tox exec -e acceptance -- lab report merge reports "
                               "${inputs.join(' ')}\"\n",
                               "sh(script: \"tox exec -e acceptance -- lab report merge reports "
                               "${inputs.join(' ')}\", returnStatus: true)\n", "red"),
    "no merge": ("-- lab report merge reports ${", "-- lab flaky reports ${", "merge"),
    "junit of a shard": ("junit(testResults: 'reports/junit.xml'",
                         "junit(testResults: 'reports/shard-1/junit.xml'", "junit"),
    "cucumber of a shard": ("jsonReportDirectory: 'reports')", "jsonReportDirectory: 'reports/shard-1')",
                            "cucumber"),
    "no archive": ("artifacts: 'reports/**'", "artifacts: 'reports/living-docs/**'", "archiveArtifacts"),
    "renamed stage": ("stage('Merged report')", "stage('Merge')", "stages"),
    "SHARDS default": ("name: 'SHARDS', defaultValue: '2'", "name: 'SHARDS', defaultValue: '4'", "SHARDS"),
    "VM kept": ("LAB_DESTROY = 'always'", "LAB_DESTROY = 'passing'", "LAB_DESTROY"),
    "sensitivity subset": ("tox -e sensitivity'", "tox -e sensitivity -- --ci'", "sensitivity"),
    "sensitivity on the VM": ("sh 'LAB_TARGET=docker LAB_PROJECT", "sh 'LAB_PROJECT", "sensitivity"),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_the_structure_check_rejects(name: str) -> None:
    old, new, word = MUTATIONS[name]
    text = JENKINSFILE.read_text()
    assert old in text, f"the mutation {name!r} no longer applies to the Jenkinsfile"
    new_problems = set(check_structure(text.replace(old, new, 1))) - set(check_structure(text))
    assert any(word in p for p in new_problems), new_problems


def test_the_structure_check_rejects_catch_error_gone_and_lock_around_the_setup_only() -> None:
    text = JENKINSFILE.read_text()
    guard = r"catchError\(buildResult: 'FAILURE', stageResult: 'FAILURE'\) \{\s*parallel branches\s*\}"
    unguarded = re.sub(guard, "parallel branches", text)
    assert unguarded != text
    before = set(check_structure(text))
    assert any("catchError" in p for p in set(check_structure(unguarded)) - before)
    problems = set(check_structure(_lock_around_setup_only(text))) - before
    assert any("under the lock" in p for p in problems), problems


def test_commands_are_the_ones_ci_runs() -> None:
    """Fails until .ci/run runs `lab report merge` (it is being added there)."""
    commands = sh_commands(JENKINSFILE.read_text())
    assert [core(c) for c in commands] == [
        "provision/host/prepare.sh --vms --images",
        SHARD_RUN,
        TEARDOWN,
        "tox -e sensitivity",
        MERGE,
    ]
    missing = not_run_by_ci(commands, CI_RUN.read_text())
    assert not missing, f"Jenkinsfile commands that .ci/run never runs: {missing}"


def test_not_run_by_ci() -> None:
    ci = (
        "timeout 5400 bash provision/host/prepare.sh --vms --images\n"
        "LAB_TARGET=docker \\\n  timeout 2400 tox -e acceptance -- --shards 4\n"
        'LAB_REPORTS_DIR="$ROOT/r" timeout 600 tox exec -e acceptance -- lab down --volumes\n'
        "# tox exec -e acceptance -- lab report merge out a b\n"
    )
    jenkins = ["sudo -n provision/host/prepare.sh --vms --images", "tox -e acceptance -- --shard ${i}/${n}",
               "tox exec -e acceptance -- lab down --volumes",
               "tox exec -e acceptance -- lab report merge reports x",
               "tox exec -e acceptance -- lab up"]
    assert not_run_by_ci(jenkins, ci) == jenkins[3:]


def test_sh_commands() -> None:
    text = (
        "sh 'a b'\n sh \"c\"\n sh('d')\nfish 'no'\n stash(name: 'x')\n"
        "// sh 'commented out'\n/* sh 'nor this' */\n"
        "sh \"tox -e acceptance -- --shard ${i}/${n}\"\n"
        "sh \"merge reports ${inputs.join(' ')}\"\n"
        "sh(script: \"e ${m.collect { \"x${it}\" }.join(' ')}\", returnStatus: true)\n"
        'sh """\n    # a comment\n    f \\\n      --g\n    h "${x}"\n"""\n'
        "sh '''i'''\n"
        'echo "sh \'inside a string\'"\n'
    )
    assert sh_commands(text) == [
        "a b", "c", "d", "tox -e acceptance -- --shard ${i}/${n}", "merge reports ${inputs.join(' ')}",
        'e ${m.collect { "x${it}" }.join(\' \')}', "f --g", 'h "${x}"', "i",
    ]


def test_blocks_and_try_finally() -> None:
    text = (
        'node(\'kvm\') { lock(resource: "h-${env.NODE_NAME}") { try { sh "a }" } '
        "catch (e) { echo 'x' } finally { sh 'b' } } }\n// node('kvm') { }\n"
    )
    (node,) = blocks(text, "node")
    assert node.args == "'kvm'"
    (lock,) = blocks(node.body, "lock")
    assert lock.args == 'resource: "h-${env.NODE_NAME}"'
    assert [(sh_commands(t), sh_commands(f)) for t, f in try_finally(lock.body)] == [(["a }"], ["b"])]
    assert stages("stage('A (b)') { x }\nstage(\"C\") { y }") == {"A (b)": " x ", "C": " y "}


def test_command_normalisation() -> None:
    setup = "provision/host/prepare.sh --vms --images"
    assert bare(f"sudo -n {setup}") == setup
    assert bare('LAB_TARGET=vagrant X="$ROOT/r" timeout 600 tox exec -e acceptance') == (
        "tox exec -e acceptance"
    )
    assert ci_commands("# c\nA=1 \\\n  timeout 9 bash x.sh --y\n") == ["x.sh --y"]
    for command in ("tox -e acceptance", "tox -e acceptance -- --shard ${i}/${n}",
                    "LAB_TARGET=docker timeout 9 tox -e acceptance -- --shards 4",
                    'tox -e acceptance -- -m "not x"'):
        assert core(command) == "tox -e acceptance", command
    assert core("tox -e sensitivity -- --ci") == "tox -e sensitivity"
    assert core("tox exec -e acceptance -- lab down --volumes") == TEARDOWN
    assert core("tox exec -e acceptance -- lab report merge reports ${inputs.join(' ')}") == MERGE
    assert core('tox exec -e acceptance -- lab report merge "$ROOT/reports/all" "$ROOT/r/docker"') == MERGE
    assert core("tox exec -e acceptance -- lab up --target vagrant") != TEARDOWN
    assert core("tox exec -e acceptance -- python -m harness.report.docs_check x") == (
        "tox exec -e acceptance -- python"
    )
