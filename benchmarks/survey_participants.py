"""Scripted participants answer a running survey in Debian's chromium (Playwright): the
README's end-to-end check of build -> serve -> answer -> report, and a screenshot of a
question. Answers follow the ground truth, wrong with probability --error-rate (a dominant
answer picks another class, a multi-class answer drops or adds one), after a delay of
--base-ms plus --per-class-ms per selected class, +-30 % (seeded).

    python -m actseg survey serve --survey results/survey &
    python benchmarks/survey_participants.py --survey results/survey --participants 4 \\
        --screenshot docs/survey-question.png
    python -m actseg survey report --survey results/survey
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from actseg.survey.forms import load_survey
from actseg.survey.scripted import ScriptedParticipant, browser
from actseg.survey.store import AnswerStore


def noisy(truth: tuple[int, ...], multiple: bool, num_classes: int, rng) -> tuple[int, ...]:
    others = [c for c in range(num_classes) if c not in truth]
    if not multiple:
        return (int(rng.choice(others)),)
    if len(truth) > 1 and rng.random() < 0.5:
        return tuple(c for c in truth if c != rng.choice(truth))
    return (*truth, int(rng.choice(others)))


def answer_all(person: ScriptedParticipant, args, rng) -> int:
    count = 0
    while not person.finished():
        question = person.survey.question(person.current())
        form = person.survey.forms[question.form]
        classes = question.truth
        if rng.random() < args.error_rate:
            classes = noisy(classes, form.multiple, person.survey.num_classes, rng)
        delay = (args.base_ms + args.per_class_ms * len(classes)) * rng.uniform(0.7, 1.3)
        person.answer(int(delay), classes)
        count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survey", required=True, type=Path)
    parser.add_argument("--db", type=Path, help="answer store (default SURVEY/answers.sqlite)")
    parser.add_argument("--url", default="http://127.0.0.1:8765", help="the running server")
    parser.add_argument("--participants", type=int, default=4, help="the plan's first N")
    parser.add_argument("--error-rate", type=float, default=0.1)
    parser.add_argument("--base-ms", type=int, default=400)
    parser.add_argument("--per-class-ms", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--screenshot", type=Path, help="PNG of the first multi-class question")
    args = parser.parse_args()
    survey = load_survey(args.survey)
    tokens = AnswerStore(args.db or args.survey / "answers.sqlite").tokens()
    rng = np.random.default_rng(args.seed)
    with browser() as chromium:
        for participant in list(survey.plan)[: args.participants]:
            page = chromium.new_page(viewport={"width": 900, "height": 760})
            person = ScriptedParticipant(page, f"{args.url}/s/{tokens[participant]}", survey)
            person.open()
            if args.screenshot and survey.forms[survey.plan[participant][0]].multiple:
                person.current()
                page.click("#options input[value='0']")
                page.screenshot(path=str(args.screenshot), full_page=True)
                page.click("#options input[value='0']")
                args.screenshot = None
            print(participant, answer_all(person, args, rng), "answers", flush=True)
            page.close()


if __name__ == "__main__":
    main()
