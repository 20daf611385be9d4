"""Project configuration: every tunable constant of lipnet lives here.

Edit these to change defaults; command-line flags override them per run.
"""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# In a checkout the shipped models, samples and working folders sit beside the package; installed (pip install),
# the models travel inside it (lipnet/models) and runs and data go under the current directory.
CHECKOUT = PACKAGE.parent if (PACKAGE.parent / "pyproject.toml").is_file() else None
ROOT = CHECKOUT or PACKAGE  # where models/ is

# Video and mouth crops -------------------------------------------------------------------------
FPS = 25  # every clip is resampled to this rate before extraction
FRAME_COUNT = 75  # frames per GRID clip; the extractor pads/trims to it unless told otherwise
IMAGE_HEIGHT = 50
IMAGE_WIDTH = 100
IMAGE_CHANNELS = 3  # RGB
DECODE_THREADS = 1  # FFmpeg threads per video: short clips decode faster on one, and the extractor runs one per core

# Mouth geometry in the normalised crop: the distance between the eye centres, in crop pixels,
# after the similarity warp. 52 puts the lips at about half the crop's width, as in the LipNet crops.
CROP_EYE_DISTANCE = 52.0
DETECT_MAX_SIDE = 640  # face detection: larger frames shrink to this side; smaller grow to it if none found natively
LANDMARK_STRIDE = 2  # the 68-point predictor runs on every 2nd frame, frames between are interpolated (1: all)
TRACK_MIN_SIMILARITY = 0.7  # a tracked face correlating less than this with its look at the last detection is lost
SMOOTHING_WINDOW = 5  # frames, centred moving average over landmark tracks
MAX_FILLED_FRACTION = 0.5  # a clip with more frames than this without a face is rejected

# Audio ----------------------------------------------------------------------------------------
# One time base for every audio model, tied to the video's: 16 kHz, a feature frame every 10 ms (160
# samples), so exactly 4 audio frames per 25 fps video frame, and audio frame 4j is at video frame j's instant.
SAMPLE_RATE = 16000
HOP_MS = 10  # feature frame period; 8 (the Viseme-Classification seed's) and 20 (the sync model's) divide 40 too
WINDOW_MS = 25  # analysis window; the seed used 16 (with an 8 ms hop)
N_MFCC = 13  # cepstra; with their deltas and delta-deltas, 39 values per frame
N_MELS = 40  # mel bands of the MFCC filter bank and of log-mel (MFEC) features
# vocal tract length perturbation (Jaitly & Hinton 2013): below this frequency the spectrum is stretched by the
# warp factor, above it a straight line keeps Nyquist in place
VTLP_BOUNDARY_HZ = 4800.0
STUDENT_MELS = 20  # log-mel bands of the real-time student: half the teacher's, which pays for a wider GRU
STUDENT_AUGMENT = (0.8, 0.85, 0.9, 0.95, 1.05, 1.1, 1.15, 1.2)  # speeds of the student's perturbed copies of a clip
MIN_SAMPLE_RATE = 8000  # Hz: telephone sound (speech up to 4 kHz) reads, anything sampled lower is refused
LIVE_BLOCK = 40  # samples (2.5 ms) a live block: every frame's window ends on a block's last sample (a hop is 160
# samples, a window ends 200 past its centre), so no frame waits for a block to fill
LIVE_SOUND_S = 10.0  # seconds of a microphone `microphone.Heard` keeps for the windows read beside a camera
SILENCE_PEAK = 1e-4  # a file whose loudest sample is below this (-80 dBFS) holds no sound to read

LIPSYNC_MODEL = ROOT / "models" / "lipsync-grid-s1.keras"  # lipsync.py's default classifier, the phoneme teacher
LIPSYNC_STUDENT = ROOT / "models" / "lipsync-student-grid-s1.keras"  # the real-time student: lipsync.py --live
SVM_C_GRID = (1.0, 4.0, 16.0)  # the audio -> viseme SVM's C and γ are chosen on validation clips from these;
SVM_GAMMA_GRID = (0.5, 1.0, 2.0)  # γ in units of 1 / input dimensions (scikit-learn's "scale" on standardised input)
LIPSYNC_PATIENCE = 6  # lip-sync classifiers stop after this many epochs without better validation accuracy
LIPSYNC_MIN_CUE = 0.03  # seconds: no cue is shorter (a p/b/m closure lasts 30-80 ms); chosen on s1_val, bench/cues.py
LIPSYNC_LIVE_HOLD = (1, 3)  # live shapes (visemes.Hold): confirm frames, least frames held; bench/cues.py
# words aligned to recognised phones (align.guided) whose worst word fits worse than this are warned of (nats a frame,
# chosen on s1_val by bench/align.py --guided)
GUIDED_MIN_FIT = -2.7
LIPSYNC_SWITCH_COST = 1.0  # nats a change of mouth shape costs the cue decoder, so cues do not flicker; bench/cues.py

PHONE_MIN_DURATION = 0.03  # seconds: recognised phones shorter than this (3 frames, an HMM phone's least) merge away

# Sync -----------------------------------------------------------------------------------------
# The coupled 3D CNN of sync.py: 0.3 s of speech (15 MFEC frames of 20 ms, 2 per video frame) against 0.32 s of
# mouth (8 grey crops at 25 fps; the seed had 9 at 30 fps), window j of each starting at video frame j's instant.
SYNC_MODEL = ROOT / "models" / "sync-grid-s1.keras"  # sync.py's default model
SYNC_HOP_MS = 20  # the seed's non-overlapping 20 ms speech frames
SYNC_AUDIO_FRAMES = 15  # speech frames a window (the seed's 15 x 40 x 3 cube)
SYNC_VIDEO_FRAMES = 8  # mouth crops a window
SYNC_MAX_OFFSET = 15  # video frames searched either way (±0.6 s)
SYNC_SPEECH_DB = 25  # a video frame holds speech when its sound is within this of the clip's loudest frame
SYNC_MIN_SHIFT = 5  # impostor windows from the same clip are at least this many video frames away
SYNC_MARGIN = 1.0  # contrastive loss: impostor embeddings are pushed at least this far apart (unit vectors: 0..2)
SYNC_TOLERANCE = 1  # frames: an estimated offset this small reads "in sync" (one frame is 40 ms)
SYNC_MIN_CONFIDENCE = 0.15  # median minus minimum distance below this: no clear minimum (bench/sync.py)
SYNC_SAME_SPEECH = -3.3  # agreement.same_speech below this: the lips say something else (bench/sync.py)
SYNC_WINDOW = 250  # frames (10 s): longer clips get an offset for every window of this length, so drift shows

# Animation ------------------------------------------------------------------------------------
# Animation parameters from the tracked lips (lipnet.animation.lipshape): a PCA of the 20 normalised mouth points and
# named channels, fitted on GRID s1's training clips (bench/animation.py refits it).
ANIMATION_MODEL = ROOT / "models" / "mouth-shape-grid-s1.npz"
ANIMATION_COMPONENTS = 8  # PCA coefficients kept per frame: 97% of the shape variance, RMSE 0.007 mouth widths
ANIMATION_REST_PERCENTILE = 20  # jawOpen and the lip gap are 0 at this percentile of the training frames: closed,
# relaxed lips (GRID s1's trailing silences sit there; a fifth of its frames are that silence or more closed)
ANIMATION_FULL_PERCENTILE = 95  # every channel is 1 at this one (narrowing: 100 minus it), so outliers set no scale
ANIMATION_CLOSED = 0.1  # lips count as closed with the inner lip gap in the lowest tenth of its rest..full range
# Predicted lips press together where the real-time student hears /p b m/ (lipnet.animation.animator.pressing): from where
ANIMATION_PRESS_FROM = 0.2  # its PP probability passes this (not at all)...
ANIMATION_PRESS_FULL = 0.5  # ...to where it passes this (the lips meet)
ANIMATOR_MODEL = (
    ROOT / "models" / "animator-grid-s1.keras"
)  # speech -> mouth shape (lipnet.animation.animator): animate.py
ANIMATOR_PATIENCE = 10  # animators stop after this many epochs without a better validation landmark RMSE

# Rendering ------------------------------------------------------------------------------------
# lipnet.animation.renderer: a cartoon mouth drawn from 20 normalised lip points (lipnet.animation.lipshape's frame, lengths
# in mouth widths), a still face photo warped to them, and mp4 output. Colours are BGR, as OpenCV draws.
RENDER_SIZE = (288, 360)  # (height, width) of a drawn mouth frame: GRID's, so it sits beside the video unscaled
RENDER_MOUTH_WIDTH = 0.5  # a mean-width mouth spans this fraction of the drawn image's width
RENDER_SKIN = (160, 190, 230)
RENDER_LIP = (90, 80, 190)
RENDER_LIP_LINE = (55, 40, 130)  # outline and the line where closed lips meet
RENDER_INSIDE = (40, 20, 45)  # the open mouth
RENDER_TEETH = (225, 235, 240)
RENDER_PHOTO_TEETH = (150, 165, 175)  # teeth in a photo's mouth, in its shade
RENDER_TONGUE = (80, 60, 165)
RENDER_CLOSED_GAP = 0.045  # inner lips this far apart touch: GRID s1's opening at rest (ANIMATION_REST_PERCENTILE)
RENDER_TEETH_GAP = 0.02  # the upper teeth show once the lips part by more than this...
RENDER_TEETH_HEIGHT = 0.05  # ...as a band along the upper inner lip up to this high
RENDER_TONGUE_GAP = 0.08  # the tongue shows once the lips part by more than this
# A photo's face is warped between its lips and two rings around them, one following the lips by RENDER_WARP_FOLLOW
# of their motion (skin stretches, the jaw drops), the outer one fixed: each ring this far out of the outer lips,
# sideways, up and down (the chin is further than the nose).
RENDER_WARP_RINGS = ((0.15, 0.15, 0.25), (0.3, 0.3, 0.5))
RENDER_WARP_FOLLOW = 0.5
VIDEO_CODECS = ("libx264", "mpeg4")  # the first PyAV's FFmpeg has; libx264 is missing from some builds
VIDEO_CRF = 20  # libx264 quality: 0 lossless, 23 its default; lower is better and larger

# Text -----------------------------------------------------------------------------------------
# Index 0 is the CTC blank (Keras 3 convention); the vocabulary follows it.
VOCABULARY = " abcdefghijklmnopqrstuvwxyz"
MAX_LABEL_LENGTH = 40  # characters; the longest GRID sentence has 32

# Training -------------------------------------------------------------------------------------
DATA_DIR = CHECKOUT / "data" if CHECKOUT else Path("data")
RUNS_DIR = CHECKOUT / "runs" if CHECKOUT else Path("runs")
SPLITS_DIR = PACKAGE / "splits"
BATCH_SIZE = 32
LEARNING_RATE = 1e-4
LR_SCHEDULES = ("constant", "cosine")  # --schedule: a fixed rate, or cosine annealing over the run's epochs
LR_FINAL_FRACTION = 0.02  # the cosine schedule (--schedule cosine) ends at this fraction of the learning rate
EPOCHS = 70
FLIP_PROBABILITY = 0.5
JITTER_PROBABILITY = 0.05  # per frame: drop or duplicate (LipNet paper)
AUGMENT_SHIFT = 4.0  # pixels, random translation of whole clips
AUGMENT_ZOOM = 0.08  # relative, random zoom of whole clips
AUGMENT_BRIGHTNESS = 0.2  # relative, random brightness and contrast of whole clips
# time masking (Ma et al. 2022): this many spans of up to ModelConfig.time_mask frames per training clip show the
# clip's mean frame, so no word can be read from one fixed stretch of frames alone
TIME_MASKS = 3
NORM_STATS_CLIPS = 200  # clips sampled to estimate the per-channel mean and std
# Auxiliary heads (train.py --aux-visemes/--aux-phones/--distill) learn this many times faster than the trunk: they
# start from zero and their logits are scaled by it, so under Adam their steps are this much larger, and a new head
# catches up within a short fine-tuning at a small rate.
AUX_HEAD_SPEEDUP = 10.0

# Inference ------------------------------------------------------------------------------------
DEFAULT_WEIGHTS = ROOT / "models" / "lipnet-grid-s1.hdf5"
BEAM_WIDTH = 16
GRAMMAR_BEAM_WIDTH = 64
READ_WINDOW = FRAME_COUNT  # longer clips are read in windows as long as the training clips...
READ_HOP = 25  # ...starting every second, their posteriors averaged (see reader.LipReader.probabilities)
READ_BATCH = 16  # windows per network call
# What a clip is read from (lipnet.recognition): the lips, the voice, or both; "auto" is both when the clip has sound
MODALITIES = ("auto", "video", "audio", "av")
AVSR_MODEL = ROOT / "models" / "avsr-grid-s1.keras"  # the audio-visual recogniser, heard through the lip reader
FUSION_CANDIDATES = 10  # sentences each stream proposes when the lips and the voice are read together
# rounds of the phones' climb to their best sentence (fusion.climbed): the neighbours of the best so far, again
FUSION_CLIMBS = 3
GRAMMAR_MAX_FRAMES = 100  # longer clips (over 4 s) may hold several sentences: decoded with beam search by default
GRAMMAR_MIN_FRAMES = 27  # shorter clips cannot hold a GRID sentence (the shortest of all 34,000 spans 27 frames)
TIMINGS = ("auto", "audio", "video")  # predict.py --timing: word times from the sound, the lips, or sound when heard
# No speech, no sentence: a clip is read only when it is long enough to hold a word, its lips move, and (with a frame
# head) the head sees this many frames of speech; otherwise the transcript is empty
MIN_READ_FRAMES = 8  # 0.32 s: GRID's shortest words last 4-8 frames
# spread (5th-95th percentile) of the inner lips' gap over the clip, in mouth widths: half the least of any s1_val
# clip (0.095; held-out s1 0.073, the other speakers' samples 0.114-0.297), a photo or a frozen face 0-0.03
MIN_LIP_MOTION = 0.05
MIN_SPEECH_FRAMES = 6.0  # expected frames of speech (summed non-silence posteriors of the frame head)
# the sentence confidence's floor on how well a sentence fits the frame head's phones (`align.guided`'s worst word's mean
# log posterior ratio; held-out s1: 5th percentile -5.5, least -13): what a sentence that cannot fit the clip gets
PHONE_FIT_FLOOR = -10.0

# Output ---------------------------------------------------------------------------------------
SUBTITLE_LINE_WIDTH = 42  # characters; subtitle cues group words into lines up to this long
ANNOTATION_MIN_WIDTH = 640  # pixels; annotated videos of narrower clips are enlarged by a whole factor to fit text
PLOT_MAX_WIDTH = 40.0  # inches (4,400 px at 110 dpi): a lip-sync plot of a long file stays one readable image

# Web app (lipnet app) -------------------------------------------------------------------------
APP_HOST = "127.0.0.1"  # this computer only, unless --host says otherwise
APP_PORT = 7860  # Gradio's usual port
APP_MAX_UPLOAD_MB = 200  # an upload larger than this is refused by the server before it is stored
APP_MAX_SECONDS = 120.0  # a longer recording is refused before any model sees it (a 3 s clip reads in about a second)
APP_KEEP_SECONDS = 3600  # a request's outputs stay downloadable this long, then the next request removes them
APP_CONCURRENCY = 2  # requests worked on at once (one per core here); the rest wait in the queue
APP_QUEUE_SIZE = 32  # requests waiting beyond this are turned away with a message
