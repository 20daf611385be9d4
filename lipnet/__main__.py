"""The `lipnet` command: one program, one subcommand per job. ``lipnet read clip.mp4``, ``lipnet lipsync speech.wav``.

Each subcommand is a module of `lipnet.commands` with the flags of the script it was (``lipnet read`` is
``predict.py``); ``lipnet COMMAND --help`` lists them. Nothing heavy is imported until a command has been chosen.
"""

import importlib
import sys

COMMANDS = {  # name -> (module, what it does)
    "read": ("read", "read lips: text, subtitles, word and viseme timings from a video (predict.py)"),
    "lipsync": ("lipsync", "speech -> viseme timeline: Rhubarb/OVR cue files, live from a microphone (lipsync.py)"),
    "sync": ("sync", "is the voice in sync with the lips: offset, confidence, --fix (sync.py)"),
    "animate": ("animate", "speech -> ARKit mouth channels, a drawn mouth or a talking photo (animate.py)"),
    "extract": ("extract", "mouth crops of a tree of videos, for training (preprocessing/extract.py)"),
    "train": ("train", "train a lip reader on extracted crops (train.py)"),
    "evaluate": ("evaluate", "score a lip reader: CER, WER and sentence accuracy per decoder (evaluate.py)"),
    "app": ("app", "the local web app: a page with a tab per job, and its API (http://127.0.0.1:7860)"),
}


def usage() -> str:
    rows = "\n".join(f"  {name:9s} {what}" for name, (_, what) in COMMANDS.items())
    return f"usage: lipnet COMMAND [options]   (lipnet COMMAND --help for its options)\n\ncommands:\n{rows}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: {name!r} is not a lipnet command (read, {', '.join(list(COMMANDS)[1:])})", file=sys.stderr)
        return 2
    sys.argv[0] = f"lipnet {name}"  # argparse names the program in usage lines and errors
    return importlib.import_module(f"lipnet.commands.{COMMANDS[name][0]}").main(rest)


if __name__ == "__main__":
    sys.exit(main())
