package sample;

/** Shaped like Tomcat's StandardHostValve (other argument types). */
public class FakeValve {
    public void invoke(StringBuilder request, StringBuilder response) {
        if (request.length() == 0) {
            throw new IllegalArgumentException("empty");
        }
        for (int i = 0; i < 2; i++) {
            response.append(request);
        }
    }
}
