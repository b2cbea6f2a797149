"""Sensor models: image pixels to WGS84 longitude/latitude, every vertex exactly and vectorized."""

from tessera.geo.sensor_models import (
    AffineSensorModel,
    GCPSensorModel,
    RPCSensorModel,
    SensorModel,
    sensor_model_for,
)

__all__ = ["AffineSensorModel", "GCPSensorModel", "RPCSensorModel", "SensorModel", "sensor_model_for"]
