"""What a network costs to run: multiply-adds per frame, counted from its layers' shapes.

For the recurrent and convolutional frame-by-frame networks of the audio half (Dense, Conv1D, GRU, LSTM,
Bidirectional): FLOPs per frame are twice the multiply-adds; activations, biases and gates' element-wise work
are left out (a few percent). A layer of another kind costs nothing here, so count only what these cover.
"""


def multiply_adds(network) -> int:
    """Multiply-adds per input frame of a network whose layers map one frame sequence to another. A layer after a
    reshape that folds k frames into one runs once every k frames (a low frame rate), until one unfolds them."""
    import keras

    total, rate = 0.0, 1.0
    for layer in _layers(network):
        if isinstance(layer, keras.layers.Reshape) and len(layer.input.shape) == len(layer.output.shape) == 3:
            rate *= layer.input.shape[-1] / layer.output.shape[-1]
        total += rate * _layer(layer)
    return round(total)


def _layers(network):
    for layer in network.layers:
        if hasattr(layer, "layers") and not hasattr(layer, "forward_layer"):  # a nested model
            yield from _layers(layer)
        else:
            yield layer


def _layer(layer) -> int:
    import keras

    if isinstance(layer, keras.layers.Bidirectional):
        return _layer(layer.forward_layer) + _layer(layer.backward_layer)
    if isinstance(layer, keras.layers.Dense):
        return layer.kernel.shape[0] * layer.kernel.shape[1]
    if isinstance(layer, keras.layers.Conv1D):
        width, inputs, outputs = layer.kernel.shape
        return width * inputs * outputs
    if isinstance(layer, (keras.layers.GRU, keras.layers.LSTM)):
        cell = layer.cell
        return (
            cell.kernel.shape[0] * cell.kernel.shape[1]
            + cell.recurrent_kernel.shape[0] * cell.recurrent_kernel.shape[1]
        )
    return 0
