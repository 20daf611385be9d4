"""Audio-visual speech recognition: GRID sentences from the voice, the lips, or both.

Data flows as everywhere in lipnet: sound -> log-mel frames on the one time base (4 a video frame) -> an audio
encoder; mouth crops -> the lip reader's BiGRU features; both at 25 fps into one CTC head over the lip reader's
characters (`model`), trained with noise at random SNR and either stream dropped (`noise`, `trainer`). Reading both
(`recognizer.AudioVisualReader`) is late fusion (`fusion`): the lip reader's and the audio head's best sentences,
each scored by both streams, the voice trusted as far as it is sure of itself.
"""
