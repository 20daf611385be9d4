"""Mouth animation: the lips' shape model (`lipshape`: PCA of tracked lips, ARKit-named channels), the animator that
predicts it from speech (`animator`), and the renderer that draws it (`renderer`)."""
