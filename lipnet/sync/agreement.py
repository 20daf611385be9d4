"""Is it the same speech? The phones the lips say against the phones the voice says, frame by frame.

The offset curve says where the sound fits the picture best, and how clearly; it cannot tell whether the sound is
this face's speech at all: on speakers the sync network never met, another recording's sound scores as the clip's
own (curve confidence AUC 0.77, bench/sync.py). Two shipped models know more of what is said: the lip reader's frame
head names the phone on the lips every video frame (`LipReader.posteriors`), and the lip-sync model, the head's
teacher, the phone in the voice. Over the frames where either names anything but silence, the mean log probability
that the two name the same phone (the voice taken at the offset found) is the clip's ``same_speech`` score: near 0
when the lips say what the voice says, far below when they say something else. Below env.SYNC_SAME_SPEECH, the
verdict is "not the same speech" (bench/sync.py measures it on speakers neither model met).
"""

import numpy as np

from lipnet import audio, env, visemes
from lipnet.sync.offsets import Offset

_SILENCE = visemes.PHONES.index("sil")


def same_speech(lips: np.ndarray, voice: np.ndarray, offset: int = 0, start: int = 0, stop: int | None = None) -> float:
    """How much the lips' and the voice's phones (frames x `visemes.PHONES` each, a row a video frame) agree over
    video frames [start, stop), the voice `offset` frames later (> 0: the audio lags): the mean log probability that
    both name the same phone, over the frames where either names anything but silence; nan when none does."""
    stop = len(lips) if stop is None else stop
    j = np.arange(max(start, -offset), min(stop, len(voice) - offset))
    if len(j) == 0:
        return float("nan")
    seen, heard = lips[j], voice[j + offset]
    speech = (seen[:, _SILENCE] < 0.5) | (heard[:, _SILENCE] < 0.5)
    if not speech.any():
        return float("nan")
    return float(np.mean(np.log(np.sum(seen[speech] * heard[speech], axis=1) + 1e-6)))


class Judge:
    """The lip reader (its phone head and its mouth extractor) and its teacher, the lip-sync model: what
    `same_speech` compares. Create once; the lip reader loads in a few seconds."""

    def __init__(self, reader=None):
        from lipnet.lipreading.reader import LipReader

        self.reader = reader or LipReader()

    def judged(self, found: list[Offset], crops: np.ndarray, samples: np.ndarray) -> list[Offset]:
        """The clip's offsets (`SyncModel.offsets` of these `crops` and `samples`), each window's ``same_speech``
        filled in at its own offset. Unchanged when the lip reader has no phone head."""
        lips = self.reader.posteriors(crops).get("phones")
        if lips is None:
            return found
        voice = audio.per_video_frame(self.reader.teacher.probabilities(samples), len(lips))
        for f in found:
            f.same_speech = same_speech(lips, voice, f.offset, f.start, f.stop + env.SYNC_VIDEO_FRAMES - 1)
        return found
