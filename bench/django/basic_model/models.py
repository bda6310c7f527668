"""The row that upstream's benchmark reads and writes: seven texts and two
floats, in this order (sqlite-fcgi's basic_model_row has the same columns)."""

from django.db import models


class Row(models.Model):
    name = models.TextField()
    campaign = models.TextField()
    voice = models.TextField()
    recognize = models.TextField()
    inside = models.FloatField()
    growth = models.TextField()
    side = models.FloatField()
    yard = models.TextField()
    discussion = models.TextField()

    def __str__(self):
        return self.name
