"""Lip-sync with the words given, on free speech nobody here recorded: 20 sentences (outside GRID's vocabulary, many
p/b/m) spoken by espeak-ng in four voices, each with its words.

    python bench/freespeech.py        # needs espeak-ng (apt-get install espeak-ng); about a minute

For every sentence: did the words align to the sound, or did the guided fallback (the words aligned to the phones
heard) take over, with its one-line notice, or did it fail? Closures: of the p/b/m phones in the timeline's own
phones, the share met by a closed mouth (Rhubarb's A) within ±20 ms in the Rhubarb cues written.
"""

import datetime
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from lipnet import audio, env
from lipnet.errors import LipnetError
from lipnet.speech import lipsync

SENTENCES = (
    "Peter picked a peck of pickled peppers.",
    "My brother bought a blue bicycle in March.",
    "Please bring me the big map of Boston.",
    "The baby bounced the ball by the pool.",
    "Mum made a plum pie for the picnic.",
    "Bill plays the bass in a small band.",
    "We met him at the bus stop by the market.",
    "Put the paper back in the brown box.",
    "The bees buzzed above the pink blossoms.",
    "Maybe the problem is simpler than it seems.",
    "A bright moon rose above the empty beach.",
    "Bob wants a bigger boat by May.",
    "Pam keeps her books in a pale blue bag.",
    "The map was pinned above my bed.",
    "Both men bumped into the open umbrella.",
    "Please remember to bring both maps.",
    "The puppy plays with a rubber bone.",
    "Ben and Molly built a sandcastle.",
    "My mother bakes bread every Monday morning.",
    "Pablo bought apples, plums and bananas.",
)
VOICES = ("en-us", "en+f3", "en+m3", "en-gb")
BILABIALS = {"P", "B", "M"}
SLACK = 0.02


def main() -> None:
    if shutil.which("espeak-ng") is None:
        raise SystemExit("needs espeak-ng (apt-get install espeak-ng)")
    model = lipsync.load(env.LIPSYNC_MODEL)
    counts = {"aligned": 0, "guided": 0, "failed": 0}
    met = total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, sentence in enumerate(SENTENCES):
            wav = Path(tmp) / f"s{i:02d}.wav"
            subprocess.run(["espeak-ng", "-v", VOICES[i % 4], "-s", "150", "-w", str(wav), sentence], check=True)
            samples = audio.load(wav)
            try:
                timeline = lipsync.timeline(samples, model, sentence)
            except LipnetError:
                counts["failed"] += 1
                continue
            counts["guided" if timeline.fit is not None else "aligned"] += 1
            closed = [(c.start - SLACK, c.end + SLACK) for c in timeline.cues("rhubarb") if c.viseme == "A"]
            for phone in timeline.phones:
                if phone.label in BILABIALS:
                    total += 1
                    met += any(a < phone.end and phone.start < b for a, b in closed)
    print(f"# Free speech with its words ({datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores)\n")
    print("| sentences | aligned | guided (one-line notice) | failed | p/b/m met by A within ±20 ms |")
    print("|---|---|---|---|---|")
    print(
        f"| {len(SENTENCES)} (espeak-ng, 4 voices) | {counts['aligned']} | {counts['guided']} | {counts['failed']} |"
        f" {met / max(total, 1):.1%} of {total} |"
    )


if __name__ == "__main__":
    main()
