package sample;

import java.util.HashMap;
import java.util.Map;

/** Shaped like Logback's LoggingEvent: the MDC map is read once and kept. */
public class FakeLoggingEvent {
    private Map<String, String> mdcPropertyMap;
    public int reads;

    public Map<String, String> getMDCPropertyMap() {
        if (mdcPropertyMap == null) {
            reads++;
            mdcPropertyMap = new HashMap<String, String>();
            mdcPropertyMap.put("user", "ann");
        }
        return mdcPropertyMap;
    }
}
