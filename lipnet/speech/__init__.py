"""Speech to mouth shapes: forced alignment, labelled corpora, the viseme classifiers (teacher and real-time
student) and live sound. Reading sound itself is shared: `lipnet.audio`."""
