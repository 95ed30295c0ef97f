"""The average of N selected faces in W+ (a 'composite portrait' done in the model's own space)."""
from explorer.edits import average
from explorer.plugins import Plugin


class Average(Plugin):
    id = "builtin.average"
    name = "Average of faces"
    description = "The mean of all the selected faces: what they have in common."
    inputs = (2, None)

    def apply(self, inputs, params, context):
        return average([face.ws for face in inputs])
