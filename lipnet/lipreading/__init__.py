"""The video half: frames to mouth crops, the LipNet model's logits and decoded text."""
