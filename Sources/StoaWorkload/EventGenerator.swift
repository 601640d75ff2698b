public enum StoaWorkloadPlaceholder {}
