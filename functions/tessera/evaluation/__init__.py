"""Accuracy of detections against ground truth: matching, precision/recall/F1, geolocation, duplicates."""
