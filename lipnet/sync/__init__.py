"""Audio-visual sync: is the voice in step with the lips? `network` (the coupled 3D CNN and its inputs),
`offsets` (the offset and confidence of a curve, and the baseline), `agreement` (is it the same speech: the lips'
phones against the voice's), `training` (fitting the network)."""
